"""Card processing stays outside kapflow (issue 15, decision 0045): the practice takes the card
on its own processor or terminal, and kapflow records the payment with the processor's
reference. This is the seam for a processor adapter: before a card payment is recorded,
`card_processor().confirm(...)` may check the reference with the processor. The only adapter
shipped is `ManualConfirmation`, which trusts the biller (the reference is what they typed).
"""

from decimal import Decimal
from typing import Protocol


class CardProcessor(Protocol):
    name: str

    def confirm(self, *, reference: str, amount: Decimal, currency: str) -> bool:
        """True when the processor holds a settled charge of `amount` under `reference`."""


class ManualConfirmation:
    name = "manual"

    def confirm(self, *, reference: str, amount: Decimal, currency: str) -> bool:
        return True


def card_processor() -> CardProcessor:
    return ManualConfirmation()
