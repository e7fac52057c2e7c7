"""The reviewed allow list: every type a ``.skops`` model file may hold without being listed.

This module is the data :data:`auditkit._trusted_types.TRUSTED_TYPES` reads, and the code that
derives it. The decision (the deny list, exact names, the check of ``[model] trusted_types``)
is :mod:`auditkit._trusted_types`; a name on the deny list never loads, whatever this list says.

How :data:`ALLOW_LIST` is derived (``python -m auditkit._allow_list`` prints the data block
from the installed scikit-learn, numpy, scipy and skops, sorted, so an upgrade is a diff to
review before it is pasted below):

- ``_DATA_TYPES``: skops' default-trusted *data* types (primitives, containers, numpy dtypes,
  arrays, random states, bit generators, scipy sparse, ``OrderedDict``/``defaultdict``). Left
  out: skops' default-trusted *functions* (every numpy/scipy ufunc, e.g. ``numpy.log1p``) and
  ``builtins.map``. A function is code: the user lists each one exactly.
- ``_SKLEARN_ESTIMATORS``: every class of ``sklearn.utils.all_estimators()``. 74 of them accept a
  callable in some parameter (``_parameter_constraints`` allows ``callable``: ``func``,
  ``inverse_func``, ``score_func``, ``kernel``, ``metric``, ``scoring``, ``oob_score``...). They
  are trusted as *containers only*: skops stores the callable as a node of its own (a function
  by name, a ``functools.partial``, an ``operator`` getter, an object of its class), which must
  pass this same check. Leaving them out would refuse the demo's own model (its ColumnTransformer
  turns ``"passthrough"`` into ``FunctionTransformer(func=None)``) and make nothing safer.
- ``_SKLEARN_INTERNALS``: data-only building blocks of fitted models (losses and links,
  HistGradientBoosting's bin mapper, calibrators, Gaussian-process kernels, MLP optimizers, CV
  splitters, scorers, ``Bunch``), reviewed module by module, plus the tree node stores
  ``sklearn.tree._tree.Tree`` and ``...predictor.TreePredictor``. skops leaves those two out
  because scikit-learn indexes their node arrays without bounds checks; auditkit trusts them only
  with a bounds check of every node before anything predicts (``_models._check_tree_nodes``).
- ``_SKLEARN_DEFAULT_CALLABLES``: functions scikit-learn uses as parameter defaults
  (``SelectKBest(score_func=f_classif)``, ``FeatureAgglomeration(pooling_func=numpy.mean)``).
"""

from __future__ import annotations

__all__ = ["ALLOW_LIST"]

# --- generated data: python -m auditkit._allow_list (reviewed; see the module docstring) ---
# BEGIN GENERATED
_DATA_TYPES: tuple[str, ...] = (
    "builtins.bool", "builtins.bytearray", "builtins.bytes", "builtins.dict", "builtins.float",
    "builtins.int", "builtins.list", "builtins.set", "builtins.slice", "builtins.str",
    "builtins.tuple", "collections.OrderedDict", "collections.defaultdict", "numpy.bool",
    "numpy.bytes_", "numpy.clongdouble", "numpy.complex128", "numpy.complex64", "numpy.datetime64",
    "numpy.dtype", "numpy.float16", "numpy.float32", "numpy.float64", "numpy.int16", "numpy.int32",
    "numpy.int64", "numpy.int8", "numpy.longdouble", "numpy.longlong", "numpy.ma.MaskedArray",
    "numpy.ma.core.MaskedArray", "numpy.ndarray", "numpy.object_", "numpy.random.MT19937",
    "numpy.random.PCG64", "numpy.random.PCG64DXSM", "numpy.random.Philox", "numpy.random.SFC64",
    "numpy.random._generator.Generator", "numpy.random.mtrand.RandomState", "numpy.str_",
    "numpy.timedelta64", "numpy.uint16", "numpy.uint32", "numpy.uint64", "numpy.uint8",
    "numpy.ulonglong", "numpy.void", "scipy.sparse._base.sparray", "scipy.sparse._bsr.bsr_array",
    "scipy.sparse._bsr.bsr_matrix", "scipy.sparse._coo.coo_array", "scipy.sparse._coo.coo_matrix",
    "scipy.sparse._csc.csc_array", "scipy.sparse._csc.csc_matrix", "scipy.sparse._csr.csr_array",
    "scipy.sparse._csr.csr_matrix", "scipy.sparse._dia.dia_array", "scipy.sparse._dia.dia_matrix",
    "scipy.sparse._dok.dok_array", "scipy.sparse._dok.dok_matrix", "scipy.sparse._lil.lil_array",
    "scipy.sparse._lil.lil_matrix", "scipy.sparse._matrix.spmatrix",
)
_SKLEARN_ESTIMATORS: tuple[str, ...] = (
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.cluster._affinity_propagation.AffinityPropagation",
    "sklearn.cluster._agglomerative.AgglomerativeClustering",
    "sklearn.cluster._agglomerative.FeatureAgglomeration",
    "sklearn.cluster._bicluster.SpectralBiclustering",
    "sklearn.cluster._bicluster.SpectralCoclustering", "sklearn.cluster._birch.Birch",
    "sklearn.cluster._bisect_k_means.BisectingKMeans", "sklearn.cluster._dbscan.DBSCAN",
    "sklearn.cluster._hdbscan.hdbscan.HDBSCAN", "sklearn.cluster._kmeans.KMeans",
    "sklearn.cluster._kmeans.MiniBatchKMeans", "sklearn.cluster._mean_shift.MeanShift",
    "sklearn.cluster._optics.OPTICS", "sklearn.cluster._spectral.SpectralClustering",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.compose._target.TransformedTargetRegressor",
    "sklearn.covariance._elliptic_envelope.EllipticEnvelope",
    "sklearn.covariance._empirical_covariance.EmpiricalCovariance",
    "sklearn.covariance._graph_lasso.GraphicalLasso",
    "sklearn.covariance._graph_lasso.GraphicalLassoCV",
    "sklearn.covariance._robust_covariance.MinCovDet",
    "sklearn.covariance._shrunk_covariance.LedoitWolf", "sklearn.covariance._shrunk_covariance.OAS",
    "sklearn.covariance._shrunk_covariance.ShrunkCovariance",
    "sklearn.cross_decomposition._pls.CCA", "sklearn.cross_decomposition._pls.PLSCanonical",
    "sklearn.cross_decomposition._pls.PLSRegression", "sklearn.cross_decomposition._pls.PLSSVD",
    "sklearn.decomposition._dict_learning.DictionaryLearning",
    "sklearn.decomposition._dict_learning.MiniBatchDictionaryLearning",
    "sklearn.decomposition._dict_learning.SparseCoder",
    "sklearn.decomposition._factor_analysis.FactorAnalysis",
    "sklearn.decomposition._fastica.FastICA",
    "sklearn.decomposition._incremental_pca.IncrementalPCA",
    "sklearn.decomposition._kernel_pca.KernelPCA",
    "sklearn.decomposition._lda.LatentDirichletAllocation",
    "sklearn.decomposition._nmf.MiniBatchNMF", "sklearn.decomposition._nmf.NMF",
    "sklearn.decomposition._pca.PCA", "sklearn.decomposition._sparse_pca.MiniBatchSparsePCA",
    "sklearn.decomposition._sparse_pca.SparsePCA",
    "sklearn.decomposition._truncated_svd.TruncatedSVD",
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis", "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor", "sklearn.ensemble._bagging.BaggingClassifier",
    "sklearn.ensemble._bagging.BaggingRegressor", "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.RandomTreesEmbedding",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._iforest.IsolationForest", "sklearn.ensemble._stacking.StackingClassifier",
    "sklearn.ensemble._stacking.StackingRegressor", "sklearn.ensemble._voting.VotingClassifier",
    "sklearn.ensemble._voting.VotingRegressor",
    "sklearn.ensemble._weight_boosting.AdaBoostClassifier",
    "sklearn.ensemble._weight_boosting.AdaBoostRegressor",
    "sklearn.feature_extraction._dict_vectorizer.DictVectorizer",
    "sklearn.feature_extraction._hash.FeatureHasher",
    "sklearn.feature_extraction.image.PatchExtractor",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_selection._from_model.SelectFromModel", "sklearn.feature_selection._rfe.RFE",
    "sklearn.feature_selection._rfe.RFECV",
    "sklearn.feature_selection._sequential.SequentialFeatureSelector",
    "sklearn.feature_selection._univariate_selection.GenericUnivariateSelect",
    "sklearn.feature_selection._univariate_selection.SelectFdr",
    "sklearn.feature_selection._univariate_selection.SelectFpr",
    "sklearn.feature_selection._univariate_selection.SelectFwe",
    "sklearn.feature_selection._univariate_selection.SelectKBest",
    "sklearn.feature_selection._univariate_selection.SelectPercentile",
    "sklearn.feature_selection._variance_threshold.VarianceThreshold",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.gaussian_process._gpc.GaussianProcessClassifier",
    "sklearn.gaussian_process._gpr.GaussianProcessRegressor",
    "sklearn.impute._base.MissingIndicator", "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._knn.KNNImputer", "sklearn.isotonic.IsotonicRegression",
    "sklearn.kernel_approximation.AdditiveChi2Sampler", "sklearn.kernel_approximation.Nystroem",
    "sklearn.kernel_approximation.PolynomialCountSketch", "sklearn.kernel_approximation.RBFSampler",
    "sklearn.kernel_approximation.SkewedChi2Sampler", "sklearn.kernel_ridge.KernelRidge",
    "sklearn.linear_model._base.LinearRegression", "sklearn.linear_model._bayes.ARDRegression",
    "sklearn.linear_model._bayes.BayesianRidge",
    "sklearn.linear_model._coordinate_descent.ElasticNet",
    "sklearn.linear_model._coordinate_descent.ElasticNetCV",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.linear_model._coordinate_descent.LassoCV",
    "sklearn.linear_model._coordinate_descent.MultiTaskElasticNet",
    "sklearn.linear_model._coordinate_descent.MultiTaskElasticNetCV",
    "sklearn.linear_model._coordinate_descent.MultiTaskLasso",
    "sklearn.linear_model._coordinate_descent.MultiTaskLassoCV",
    "sklearn.linear_model._glm.glm.GammaRegressor",
    "sklearn.linear_model._glm.glm.PoissonRegressor",
    "sklearn.linear_model._glm.glm.TweedieRegressor", "sklearn.linear_model._huber.HuberRegressor",
    "sklearn.linear_model._least_angle.Lars", "sklearn.linear_model._least_angle.LarsCV",
    "sklearn.linear_model._least_angle.LassoLars", "sklearn.linear_model._least_angle.LassoLarsCV",
    "sklearn.linear_model._least_angle.LassoLarsIC",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._logistic.LogisticRegressionCV",
    "sklearn.linear_model._omp.OrthogonalMatchingPursuit",
    "sklearn.linear_model._omp.OrthogonalMatchingPursuitCV",
    "sklearn.linear_model._passive_aggressive.PassiveAggressiveClassifier",
    "sklearn.linear_model._passive_aggressive.PassiveAggressiveRegressor",
    "sklearn.linear_model._perceptron.Perceptron",
    "sklearn.linear_model._quantile.QuantileRegressor",
    "sklearn.linear_model._ransac.RANSACRegressor", "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._ridge.RidgeCV", "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._ridge.RidgeClassifierCV",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDOneClassSVM",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
    "sklearn.linear_model._theil_sen.TheilSenRegressor",
    "sklearn.manifold._classical_mds.ClassicalMDS", "sklearn.manifold._isomap.Isomap",
    "sklearn.manifold._locally_linear.LocallyLinearEmbedding", "sklearn.manifold._mds.MDS",
    "sklearn.manifold._spectral_embedding.SpectralEmbedding", "sklearn.manifold._t_sne.TSNE",
    "sklearn.mixture._bayesian_mixture.BayesianGaussianMixture",
    "sklearn.mixture._gaussian_mixture.GaussianMixture",
    "sklearn.model_selection._classification_threshold.FixedThresholdClassifier",
    "sklearn.model_selection._classification_threshold.TunedThresholdClassifierCV",
    "sklearn.model_selection._search.GridSearchCV",
    "sklearn.model_selection._search.RandomizedSearchCV", "sklearn.multiclass.OneVsOneClassifier",
    "sklearn.multiclass.OneVsRestClassifier", "sklearn.multiclass.OutputCodeClassifier",
    "sklearn.multioutput.ClassifierChain", "sklearn.multioutput.MultiOutputClassifier",
    "sklearn.multioutput.MultiOutputRegressor", "sklearn.multioutput.RegressorChain",
    "sklearn.naive_bayes.BernoulliNB", "sklearn.naive_bayes.CategoricalNB",
    "sklearn.naive_bayes.ComplementNB", "sklearn.naive_bayes.GaussianNB",
    "sklearn.naive_bayes.MultinomialNB", "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._classification.RadiusNeighborsClassifier",
    "sklearn.neighbors._graph.KNeighborsTransformer",
    "sklearn.neighbors._graph.RadiusNeighborsTransformer", "sklearn.neighbors._kde.KernelDensity",
    "sklearn.neighbors._lof.LocalOutlierFactor",
    "sklearn.neighbors._nca.NeighborhoodComponentsAnalysis",
    "sklearn.neighbors._nearest_centroid.NearestCentroid",
    "sklearn.neighbors._regression.KNeighborsRegressor",
    "sklearn.neighbors._regression.RadiusNeighborsRegressor",
    "sklearn.neighbors._unsupervised.NearestNeighbors",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
    "sklearn.neural_network._rbm.BernoulliRBM", "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.Binarizer",
    "sklearn.preprocessing._data.KernelCenterer", "sklearn.preprocessing._data.MaxAbsScaler",
    "sklearn.preprocessing._data.MinMaxScaler", "sklearn.preprocessing._data.Normalizer",
    "sklearn.preprocessing._data.PowerTransformer",
    "sklearn.preprocessing._data.QuantileTransformer", "sklearn.preprocessing._data.RobustScaler",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._discretization.KBinsDiscretizer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._label.LabelBinarizer", "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._label.MultiLabelBinarizer",
    "sklearn.preprocessing._polynomial.PolynomialFeatures",
    "sklearn.preprocessing._polynomial.SplineTransformer",
    "sklearn.preprocessing._target_encoder.TargetEncoder",
    "sklearn.random_projection.GaussianRandomProjection",
    "sklearn.random_projection.SparseRandomProjection",
    "sklearn.semi_supervised._label_propagation.LabelPropagation",
    "sklearn.semi_supervised._label_propagation.LabelSpreading",
    "sklearn.semi_supervised._self_training.SelfTrainingClassifier",
    "sklearn.svm._classes.LinearSVC", "sklearn.svm._classes.LinearSVR",
    "sklearn.svm._classes.NuSVC", "sklearn.svm._classes.NuSVR", "sklearn.svm._classes.OneClassSVM",
    "sklearn.svm._classes.SVC", "sklearn.svm._classes.SVR",
    "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
)
_SKLEARN_INTERNALS: tuple[str, ...] = (
    "sklearn._loss._loss.CyAbsoluteError", "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss", "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss", "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss._loss.CyHalfTweedieLoss",
    "sklearn._loss._loss.CyHalfTweedieLossIdentity", "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyPinballLoss", "sklearn._loss.link.BaseLink",
    "sklearn._loss.link.HalfLogitLink", "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval", "sklearn._loss.link.LogLink", "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit", "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ArrayAPILossMixin", "sklearn._loss.loss.BaseLoss",
    "sklearn._loss.loss.ExponentialLoss", "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfBinomialLossArrayAPI", "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.loss.HalfMultinomialLossArrayAPI",
    "sklearn._loss.loss.HalfPoissonLoss", "sklearn._loss.loss.HalfPoissonLossArrayAPI",
    "sklearn._loss.loss.HalfSquaredError", "sklearn._loss.loss.HalfTweedieLoss",
    "sklearn._loss.loss.HalfTweedieLossIdentity", "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.compose._column_transformer.make_column_selector",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.gaussian_process.kernels.CompoundKernel",
    "sklearn.gaussian_process.kernels.ConstantKernel",
    "sklearn.gaussian_process.kernels.DotProduct",
    "sklearn.gaussian_process.kernels.ExpSineSquared",
    "sklearn.gaussian_process.kernels.Exponentiation",
    "sklearn.gaussian_process.kernels.Hyperparameter", "sklearn.gaussian_process.kernels.Kernel",
    "sklearn.gaussian_process.kernels.KernelOperator", "sklearn.gaussian_process.kernels.Matern",
    "sklearn.gaussian_process.kernels.PairwiseKernel", "sklearn.gaussian_process.kernels.Product",
    "sklearn.gaussian_process.kernels.RBF", "sklearn.gaussian_process.kernels.RationalQuadratic",
    "sklearn.gaussian_process.kernels.Sum", "sklearn.gaussian_process.kernels.WhiteKernel",
    "sklearn.linear_model._sgd_fast.EpsilonInsensitive", "sklearn.linear_model._sgd_fast.Hinge",
    "sklearn.linear_model._sgd_fast.ModifiedHuber",
    "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.SquaredHinge", "sklearn.metrics._scorer._MultimetricScorer",
    "sklearn.metrics._scorer._PassthroughScorer", "sklearn.metrics._scorer._Scorer",
    "sklearn.model_selection._split.BaseCrossValidator",
    "sklearn.model_selection._split.BaseShuffleSplit", "sklearn.model_selection._split.GroupKFold",
    "sklearn.model_selection._split.GroupShuffleSplit",
    "sklearn.model_selection._split.GroupsConsumerMixin", "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.LeaveOneGroupOut", "sklearn.model_selection._split.LeaveOneOut",
    "sklearn.model_selection._split.LeavePGroupsOut", "sklearn.model_selection._split.LeavePOut",
    "sklearn.model_selection._split.PredefinedSplit",
    "sklearn.model_selection._split.RepeatedKFold",
    "sklearn.model_selection._split.RepeatedStratifiedKFold",
    "sklearn.model_selection._split.ShuffleSplit",
    "sklearn.model_selection._split.StratifiedGroupKFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.model_selection._split.StratifiedShuffleSplit",
    "sklearn.model_selection._split.TimeSeriesSplit",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.BaseOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer", "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
)
_SKLEARN_DEFAULT_CALLABLES: tuple[str, ...] = (
    "numpy.mean", "sklearn.feature_selection._univariate_selection.f_classif",
)
# END GENERATED

#: The union of the four groups above.
ALLOW_LIST = frozenset(
    _DATA_TYPES + _SKLEARN_ESTIMATORS + _SKLEARN_INTERNALS + _SKLEARN_DEFAULT_CALLABLES
)


def _type_name(obj: object) -> str:
    from skops.io._utils import get_type_name

    return get_type_name(obj)


def _classes_in(module: object, base: type | None = None) -> list[str]:
    """Classes defined in ``module`` (optionally subclasses of ``base``), by skops name."""
    out = []
    for attr in sorted(vars(module)):
        obj = getattr(module, attr)
        if isinstance(obj, type) and obj.__module__ == module.__name__:  # type: ignore[attr-defined]
            if base is None or issubclass(obj, base):
                out.append(_type_name(obj))
    return out


def _generate() -> dict[str, list[str]]:  # pragma: no cover - run by hand, output reviewed
    """The four groups of :data:`ALLOW_LIST`, derived from the installed libraries."""
    import inspect

    import numpy as np
    import scipy.sparse as sp
    from sklearn import calibration
    from sklearn._loss import link, loss
    from sklearn.gaussian_process import kernels
    from sklearn.gaussian_process._gpc import _BinaryGaussianProcessClassifierLaplace
    from sklearn.metrics import _scorer
    from sklearn.model_selection import _split
    from sklearn.neural_network import _stochastic_optimizers as optim
    from sklearn.utils import all_estimators
    from skops.io import _trusted_types as skt
    from skops.io._sklearn import ALLOWED_LOSSES

    from auditkit._trusted_types import denied, is_exact_type_name

    sparse = [
        _type_name(obj) for obj in (getattr(sp, a) for a in sorted(dir(sp)))
        if isinstance(obj, type) and issubclass(obj, (sp.spmatrix, sp.sparray))
    ]
    data = sorted(
        {n for n in skt.PRIMITIVE_TYPE_NAMES + skt.CONTAINER_TYPE_NAMES if n != "builtins.map"}
        | {"builtins.bytearray", "builtins.bytes", "builtins.dict", "builtins.slice"}
        | {"collections.OrderedDict", "collections.defaultdict", "numpy.dtype", "numpy.ndarray"}
        | {"numpy.ma.MaskedArray", "numpy.ma.core.MaskedArray"}
        | {_type_name(np.random.RandomState), _type_name(np.random.Generator)}
        | set(skt.NUMPY_DTYPE_TYPE_NAMES) | set(skt.NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES)
        | set(sparse)
    )
    estimators = sorted(
        n for n in (_type_name(c) for _, c in all_estimators()) if n.startswith("sklearn.")
    )
    internals = sorted(
        set(skt.SKLEARN_INTERNAL_TYPE_NAMES)
        | {_type_name(c) for c in ALLOWED_LOSSES}
        | set(_classes_in(loss)) | set(_classes_in(link))
        | set(_classes_in(kernels, kernels.Kernel)) | {_type_name(kernels.Hyperparameter)}
        | {_type_name(calibration._CalibratedClassifier)}
        | {_type_name(calibration._SigmoidCalibration)}
        | {_type_name(_BinaryGaussianProcessClassifierLaplace)}
        | set(_classes_in(optim))
        | {n for n in _classes_in(_split) if not n.rsplit(".", 1)[1].startswith("_")}
        | {_type_name(_scorer._PassthroughScorer), _type_name(_scorer._Scorer)}
        | {_type_name(_scorer._MultimetricScorer)}
        | {"sklearn.utils._bunch.Bunch", "sklearn.compose._column_transformer.make_column_selector"}
        | {"sklearn.tree._tree.Tree"}
        | {"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
    )
    callables = set()
    for _, cls in all_estimators():
        for param in inspect.signature(cls.__init__).parameters.values():
            default = param.default
            if callable(default) and not isinstance(default, type):
                callables.add(f"{getattr(default, '__module__', None) or 'numpy'}.{default.__name__}")
    groups = {
        "_DATA_TYPES": data, "_SKLEARN_ESTIMATORS": estimators,
        "_SKLEARN_INTERNALS": internals, "_SKLEARN_DEFAULT_CALLABLES": sorted(callables),
    }
    for key, names in groups.items():
        bad = [n for n in names if denied(n) or not is_exact_type_name(n)]
        if bad:
            raise SystemExit(f"{key} would trust denied or malformed names: {bad}")
    return groups


def _render(groups: dict[str, list[str]]) -> str:  # pragma: no cover - run by hand
    """The data block: sorted names, packed greedily into lines of at most 100 characters."""
    lines = []
    for key, names in groups.items():
        lines.append(f"{key}: tuple[str, ...] = (")
        line = "   "
        for item in (f' "{n}",' for n in names):
            if len(line) + len(item) > 100:
                lines.append(line)
                line = "   "
            line += item
        lines.append(line)
        lines.append(")")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(_render(_generate()))

