"""Bounds for integers that arrive in a request, so the database never sees one it cannot
hold (SQLite raises OverflowError past 2**63 - 1, PostgreSQL refuses past 2**31 - 1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ROW_ID = 2**31 - 1  # ids are `integer` columns: 32 bits on PostgreSQL

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a row id")]
Cursor = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID,
                                     description="`next_cursor` of the previous page")]
