"""The API's JSON renderer: DRF's output, written by orjson.

Rendering took a tenth of a leaderboard read in Python's json module. Types orjson does not know are converted as
DRF's own encoder converts them (lazy translations, decimals, time deltas, query sets …), and UTC datetimes end in
`Z` as DRF writes them, so responses read the same.
"""

from __future__ import annotations

from typing import Any

import orjson
from drf_orjson_renderer.renderers import ORJSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_DRF_ENCODER = JSONEncoder()
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class JSONRenderer(ORJSONRenderer):
    options = OPTIONS

    @staticmethod
    def default(obj: Any) -> Any:
        return _DRF_ENCODER.default(obj)
