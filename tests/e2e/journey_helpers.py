"""Counting what a person does in a browser journey (issue 17): clicks (a click, a tick, a
choice from a list, Enter to send a form) and field entries (typing into one field), each
with a label, so a test can print where the clicks go and assert a ceiling.

Use one Tally per person: `t = Tally(page)`, then `t.click(locator, "why")`,
`t.check(...)`, `t.select(locator, value, "why")`, `t.fill(locator, text)`,
`t.press_enter(locator, "why")`. Anything done on the page without the tally (page.goto,
expectations, reading values) is not counted: a journey reaches pages by clicking, so a
test uses goto only where a person would type an address or follow an e-mailed link, and
says so with `t.visit(url, "why")`, which counts as one click.
"""

from dataclasses import dataclass, field


@dataclass
class Tally:
    page: object
    who: str = "therapist"
    clicks: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)

    def click(self, locator, why: str = ""):
        locator.click()
        self.clicks.append(why or "click")

    def check(self, locator, why: str = ""):
        locator.check()
        self.clicks.append(why or "tick")

    def select(self, locator, value=None, why: str = "", **kwargs):
        locator.select_option(value, **kwargs)
        self.clicks.append(why or "choose")

    def press_enter(self, locator, why: str = ""):
        locator.press("Enter")
        self.clicks.append(why or "Enter")

    def fill(self, locator, text: str, why: str = ""):
        locator.fill(text)
        self.entries.append(why or "field")

    def visit(self, url: str, why: str):
        self.page.goto(url)
        self.clicks.append(why)

    def report(self) -> str:
        lines = [f"{self.who}: {len(self.clicks)} clicks, {len(self.entries)} field entries"]
        lines += [f"  {n:2d}. {label}" for n, label in enumerate(self.clicks, 1)]
        return "\n".join(lines)
