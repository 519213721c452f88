"""The vocabulary of input files that reading and column detection share: the column
names taken for time and series ids, and the cells read as missing."""

TIME_NAMES = ("ds", "date", "datetime", "time", "timestamp", "month", "week", "quarter",
              "year", "period", "day", "t", "step", "time_idx")
ID_NAMES = ("unique_id", "series_id", "id")

_NULLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
          "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_NULL_TOKENS = {s.lower() for s in _NULLS} | {"nat", "none"}
