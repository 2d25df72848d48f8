"""The catalog's SQLite schema (tables and the indexes created after a bulk load)."""

from __future__ import annotations

SCHEMA_VERSION = "4"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, eid TEXT NOT NULL UNIQUE, lab TEXT, subject TEXT NOT NULL,
    date TEXT NOT NULL, number INTEGER NOT NULL, path TEXT NOT NULL,
    projects TEXT, task_protocol TEXT, extra TEXT);
CREATE TABLE names (
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, revision TEXT NOT NULL, filename TEXT NOT NULL,
    namespace TEXT, object TEXT NOT NULL, attribute TEXT NOT NULL, timescale TEXT, extra TEXT,
    extension TEXT NOT NULL, UNIQUE (collection, revision, filename));
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY, session INTEGER NOT NULL, name INTEGER NOT NULL, url TEXT, size INTEGER,
    md5 TEXT, is_default INTEGER, uuid TEXT, qc INTEGER, UNIQUE (session, name));
CREATE TABLE name_bits (name INTEGER PRIMARY KEY, bits BLOB NOT NULL, sparse INTEGER NOT NULL DEFAULT 0);
CREATE TABLE blobs (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
_NAME_INDEX = """
CREATE INDEX IF NOT EXISTS datasets_name ON datasets (name, session);
"""
_SESSION_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_order ON sessions (date DESC, number DESC, eid);  -- covers the order
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject);
CREATE INDEX IF NOT EXISTS sessions_lab ON sessions (lab);
"""
_INDEXES = _NAME_INDEX + _SESSION_INDEXES
