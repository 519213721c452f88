"""Everything forecaster knows about pandas frequencies, in one table: for each offset
rule code (without its anchor: ``"W-SAT"`` → ``"W"``) the default season length (the
``m`` of seasonal naive and MASE) and the word a report uses; the legacy aliases older
pandas accepted and what they mean now; and the aliases a message may suggest, with the
longest period each covers."""

from __future__ import annotations

#: rule code → (season length, word)
RULES = {
    "Y": (1, "yearly"), "YS": (1, "yearly"), "A": (1, "yearly"), "AS": (1, "yearly"),
    "BY": (1, "yearly"), "BYS": (1, "yearly"), "YE": (1, "yearly"), "BYE": (1, "yearly"),
    "Q": (4, "quarterly"), "QS": (4, "quarterly"), "BQ": (4, "quarterly"),
    "BQS": (4, "quarterly"), "QE": (4, "quarterly"), "BQE": (4, "quarterly"),
    "M": (12, "monthly"), "MS": (12, "monthly"), "BM": (12, "monthly"),
    "BMS": (12, "monthly"), "ME": (12, "monthly"), "BME": (12, "monthly"),
    "SM": (24, "semi-monthly"), "SMS": (24, "semi-monthly"),
    "W": (52, "weekly"),
    "D": (7, "daily"), "B": (5, "business-daily"), "C": (5, "business-daily"),
    "H": (24, "hourly"), "h": (24, "hourly"), "BH": (8, "business-hourly"),
    "bh": (8, "business-hourly"),
    "T": (60, "minutely"), "min": (60, "minutely"),
    "S": (60, "secondly"), "s": (60, "secondly"),
}

#: aliases pandas deprecated → today's (``"M"`` meant month end)
LEGACY_ALIASES = {"M": "ME", "H": "h", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns",
                  "A": "YE", "Y": "YE", "Q": "QE", "BM": "BME", "BQ": "BQE", "BA": "BYE",
                  "BY": "BYE", "AS": "YS", "BAS": "BYS", "CBM": "CBME"}

#: aliases a message may suggest, finest first, with the longest period of each (days)
SUGGESTED = (("s", 1 / 86400), ("min", 1 / 1440), ("5min", 5 / 1440), ("15min", 15 / 1440),
             ("30min", 30 / 1440), ("h", 1 / 24), ("D", 1), ("W", 7), ("MS", 31),
             ("QS", 92), ("YS", 366))


def season_of_rule(rule: str) -> int | None:
    """The default season of a rule code, or None when forecaster knows none."""
    entry = RULES.get(rule)
    return None if entry is None else entry[0]


def word(freq) -> str:
    """``MS`` → ``monthly``, ``W-SUN`` → ``weekly``; unknown aliases are returned as given."""
    if not freq:
        return "unknown frequency"
    base = str(freq).split("-")[0].lstrip("0123456789")
    entry = RULES.get(base)
    return str(freq) if entry is None else entry[1]
