"""ALF objects as loaded by the ONE API: :class:`Bunch` (ONE-api's ``AlfBunch``)."""

from __future__ import annotations

from typing import Any

__all__ = ["Bunch"]


class Bunch(dict):
    """A dict with attribute access (``spikes.times`` is ``spikes['times']``), as ONE-api's AlfBunch."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no attribute {name!r}; available: {', '.join(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.keys()]
