"""``auditkit demo``: generate the synthetic loan dataset, train a model, audit it."""

from __future__ import annotations

from pathlib import Path

import typer

from auditkit.commands import _common


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Directory for the demo's data, model, audit.toml and reports."),
        rows: int = typer.Option(20_000, "--rows", min=500, max=2_000_000, help="Number of synthetic applications."),
        seed: int = typer.Option(7, "--seed", help="Random seed (the demo is deterministic for a seed)."),
        format: str | None = typer.Option(None, "--format", "-f", help="Comma-separated report formats (default html,md,json)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no summary."),
    ) -> int:
        """Run a complete audit of a synthetic loan-approval model.

        Writes applications.csv, model.skops and audit.toml under --out, runs the audit and
        writes the reports to OUT/report/. Exits 0 when the demo ran, whatever it found.
        """
        from auditkit.commands._comma_list import parse_list
        from auditkit.commands._summary import print_summary
        from auditkit.demo import run_demo

        with _common.progress_tracker(not quiet) as track:
            result = run_demo(out, rows=rows, seed=seed, formats=parse_list(format), track=track,
                              debug=_common.state.debug)
        if not quiet:
            con = _common.console()
            print_summary(result.run, con)
            con.print(f"Demo finished in {result.seconds:.1f} s. Config: {result.config_path}")
            con.print(f"Open the report: {result.run.paths.get('html', next(iter(result.run.paths.values())))}")
            if "manifest" in result.run.paths:
                public = result.out_dir / "keys" / "report-signing.pem.pub"
                con.print("Check it was not altered: auditkit verify "
                          f"{result.run.out_dir} --public-key {public}")
        # The demo's findings fail on purpose (that is what it shows), but a check that
        # errored means the demo did not run as it should.
        from auditkit.errors import ExitCode

        return ExitCode.INCOMPLETE if result.run.exit_code == ExitCode.INCOMPLETE else 0
