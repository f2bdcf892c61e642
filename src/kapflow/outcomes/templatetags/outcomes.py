"""Number formats of the outcomes pages, shared with the CSV export so that both print the
same figures: one decimal for means and percentages, "" for a missing value."""

from django import template

register = template.Library()


@register.filter
def one_dp(value) -> str:
    """12.345 -> "12.3"; None -> ""."""
    if value is None:
        return ""
    text = f"{float(value):.1f}"
    return "0.0" if text == "-0.0" else text


@register.filter
def percent(value) -> str:
    """A fraction as a percentage with one decimal: 0.5123 -> "51.2"; None -> ""."""
    if value is None:
        return ""
    return one_dp(float(value) * 100)


@register.filter
def yes_no(value) -> str:
    """True -> "Yes", False -> "No", None -> "—" (not decided yet, or not defined)."""
    if value is None:
        return "—"
    return "Yes" if value else "No"


@register.filter
def signed(value) -> str:
    """A whole-point change with its sign: -7 -> "−7", 3 -> "+3", None -> "—"."""
    if value is None:
        return "—"
    if value > 0:
        return f"+{value}"
    return f"−{-value}" if value < 0 else "0"
