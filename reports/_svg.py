"""Make a figure's SVG safe to inline in a report.

Figures come from checks (matplotlib output), but labels in them come from the audited data, and a
report must stay inert whatever it is handed. :func:`sanitize_svg` parses the SVG and keeps only
drawing: SVG-namespace elements from an allow-list, no scripts, no event handlers, no links or
images that leave the document, no CSS that loads anything. Element ids are prefixed so that
several figures in one page cannot collide. Anything that does not parse yields ``None`` and the
renderer shows a placeholder.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

__all__ = ["sanitize_svg", "strip_svg_comments"]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_ALLOWED = frozenset(
    """svg g defs symbol use path rect circle ellipse line polyline polygon text tspan textPath
    title desc clipPath mask marker pattern linearGradient radialGradient stop image filter
    feBlend feColorMatrix feComponentTransfer feComposite feFlood feGaussianBlur feMerge
    feMergeNode feMorphology feOffset feFuncR feFuncG feFuncB feFuncA""".split()
)
_SAFE_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")
_URL_RE = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_MAX_SVG_CHARS = 5_000_000


_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)


def strip_svg_comments(svg: str) -> str:
    """``svg`` without its XML comments. Matplotlib writes every text of a figure (group
    labels, legend entries) as a ``<!-- ... -->`` comment beside the glyph paths; a figure keeps
    none of them (:class:`auditkit.reports.Figure` strips them when it is built), so no format
    carries the labels as text."""
    return _COMMENT.sub("", svg) if isinstance(svg, str) and "<!--" in svg else svg


def _css_is_safe(css: str) -> bool:
    lowered = css.lower()
    if "@import" in lowered or "expression(" in lowered or "javascript:" in lowered:
        return False
    if "\\" in css:  # CSS escapes could spell any of the above
        return False
    return all(target.strip().startswith("#") for _, target in _URL_RE.findall(css))


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def sanitize_svg(svg: str, prefix: str) -> str | None:
    """The SVG with everything but drawing removed, ids prefixed with ``prefix``; or None."""
    if not isinstance(svg, str) or len(svg) > _MAX_SVG_CHARS:
        return None
    text = re.sub(r"<\?xml[^>]*\?>", "", svg)
    if re.search(r"<!DOCTYPE", text, re.IGNORECASE):
        # Matplotlib's DOCTYPE is a plain reference; any internal subset (entities) is refused.
        if re.search(r"<!ENTITY", text, re.IGNORECASE):
            return None
        text = re.sub(r"<!DOCTYPE[^>\[]*>", "", text, flags=re.IGNORECASE)
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    if _local(root.tag) != (SVG_NS, "svg"):
        return None

    ids: dict[str, str] = {}
    for el in root.iter():
        old = el.get("id")
        if old is not None:
            ids[old] = f"{prefix}-{re.sub(r'[^A-Za-z0-9_-]', '_', old)}"

    def rewrite_refs(value: str) -> str:
        def sub(m: re.Match[str]) -> str:
            target = m.group(2).strip()
            if target.startswith("#") and target[1:] in ids:
                return f"url(#{ids[target[1:]]})"
            return m.group(0)

        return _URL_RE.sub(sub, value)

    def clean(el: ET.Element) -> bool:
        """Clean ``el`` in place; False when it must be dropped."""
        ns, name = _local(el.tag)
        if ns != SVG_NS or name not in _ALLOWED:
            return False
        if name == "style":
            # A <style> inside inline SVG applies to the whole page; the report's own stylesheet
            # sets what matplotlib's does (round line joins, butt caps).
            return False
        for attr in list(el.attrib):
            value = el.attrib[attr]
            ans, aname = _local(attr)
            low = aname.lower()
            if ans not in ("", XLINK_NS, XML_NS) or low.startswith("on"):
                del el.attrib[attr]
                continue
            if low == "href":
                v = value.strip()
                if v.startswith("#") and v[1:] in ids:
                    el.attrib[attr] = "#" + ids[v[1:]]
                elif not (name == "image" and _SAFE_DATA_IMAGE.match(v)):
                    del el.attrib[attr]
                continue
            if low == "id":
                el.attrib[attr] = ids.get(value, value)
                continue
            if "url(" in value.lower() or low == "style":
                if not _css_is_safe(value):
                    del el.attrib[attr]
                    continue
                el.attrib[attr] = rewrite_refs(value)
        if name in ("image", "use") and not any(_local(a)[1] == "href" for a in el.attrib):
            return False  # its target was external and removed: nothing left to draw
        for child in list(el):
            if not clean(child):
                el.remove(child)
        return True

    clean(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    out = ET.tostring(root, encoding="unicode")
    return out
