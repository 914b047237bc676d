"""The `sessions` collection's contract: its $jsonSchema validator and its indexes.

The validator is the database-side answer to "schemaless data": a writer with a bug (or a
hand edit) cannot store a session whose status is misspelt, whose attempts are negative or
whose file links lack a checksum. `ensure_collection` is idempotent and cheap, so every
store opening runs it; a changed validator is applied with collMod.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import CollectionInvalid, OperationFailure

from qraptor.store.claim_order import queued_fields
from qraptor.store.status import FileKind, Status

VALIDATION_FAILED = 121  # the server's code for a $jsonSchema rejection

_INT = {"bsonType": ["int", "long"]}
_COUNT = {"bsonType": ["int", "long"], "minimum": 0}
_DATE = {"bsonType": "date"}
_TEXT = {"bsonType": "string"}
_NULLABLE_TEXT = {"bsonType": ["string", "null"]}
_NULLABLE_DATE = {"bsonType": ["date", "null"]}
_NULLABLE_OBJECT = {"bsonType": ["object", "null"]}

FILE_REF_SCHEMA: dict[str, Any] = {
    "bsonType": "object",
    "required": ["file_id", "name", "kind", "size", "sha256", "created_at"],
    "properties": {
        "file_id": {"bsonType": "objectId"},
        "name": {"bsonType": "string", "minLength": 1},
        "kind": {"enum": [k.value for k in FileKind]},
        "size": _COUNT,
        "sha256": {"bsonType": "string", "pattern": "^[0-9a-f]{64}$"},
        "created_at": _DATE,
        "timesteps": _COUNT,
    },
}

SESSION_SCHEMA: dict[str, Any] = {
    "bsonType": "object",
    "required": [
        "_id",
        "status",
        "config",
        "experiment",
        "priority",
        "attempts",
        "max_attempts",
        "tags",
        "overrides",
        "files",
        "checkpoints",
        "created_at",
        "updated_at",
    ],
    "additionalProperties": False,
    "properties": {
        "_id": {"bsonType": "string", "minLength": 1},
        "status": {"enum": [s.value for s in Status]},
        "config": {"bsonType": "object"},  # the resolved Hydra config, secrets redacted
        "experiment": {"bsonType": "string", "minLength": 1},
        "sweep_id": _NULLABLE_TEXT,
        "tags": {"bsonType": "array", "items": _TEXT},
        "overrides": {"bsonType": "array", "items": _TEXT},
        "priority": _INT,
        "attempts": _COUNT,
        "max_attempts": {"bsonType": ["int", "long"], "minimum": 1},
        "worker_id": _NULLABLE_TEXT,  # the worker running it, or the last one that did
        "claim_token": _NULLABLE_TEXT,  # changes with every claim
        "lease_expires_at": _NULLABLE_DATE,
        "heartbeat_at": _NULLABLE_DATE,
        "created_at": _DATE,
        "started_at": _NULLABLE_DATE,  # start of the latest attempt
        "finished_at": _NULLABLE_DATE,
        "updated_at": _DATE,
        "progress": {
            "bsonType": ["object", "null"],
            "properties": {"timesteps": _COUNT, "total_timesteps": _COUNT},
        },
        "data_version": _NULLABLE_OBJECT,  # DVC hashes of the inputs
        "git_commit": _NULLABLE_TEXT,
        "mlflow_run_id": _NULLABLE_TEXT,
        "mlflow_run_open": {"bsonType": ["bool", "null"]},  # created, not yet ended
        "retry_at": _NULLABLE_DATE,  # a requeued session is not claimed before this
        "claim_key": _NULLABLE_TEXT,  # set while queued: the claim order as one string
        "metrics": _NULLABLE_OBJECT,
        "error": _NULLABLE_TEXT,  # the latest error or traceback
        "errors": {  # one entry per failed or expired attempt, newest last
            "bsonType": "array",
            "items": {
                "bsonType": "object",
                "required": ["attempt", "at", "error"],
                "properties": {
                    "attempt": _COUNT,
                    "at": _DATE,
                    "error": _TEXT,
                    "worker_id": _NULLABLE_TEXT,
                },
            },
        },
        "files": {"bsonType": "array", "items": FILE_REF_SCHEMA},
        "checkpoints": {"bsonType": "array", "items": FILE_REF_SCHEMA},
    },
}

# name -> keys. `claim` serves "queued by priority then age"; `lease` finds expired leases.
SESSION_INDEXES: dict[str, list[tuple[str, int]]] = {
    "claim": [("status", ASCENDING), ("priority", DESCENDING), ("created_at", ASCENDING)],
    "lease": [("status", ASCENDING), ("lease_expires_at", ASCENDING)],
    "sweep": [("sweep_id", ASCENDING), ("created_at", DESCENDING)],
    "tags": [("tags", ASCENDING), ("created_at", DESCENDING)],
    "created": [("created_at", DESCENDING)],
    "open_runs": [("mlflow_run_open", ASCENDING), ("status", ASCENDING)],
    "claim_key": [("claim_key", ASCENDING)],
}


def ensure_collection(db: Database, name: str) -> Collection:
    """Create `name` with the validator and indexes, or bring an existing one up to date."""
    try:
        db.create_collection(
            name,
            validator={"$jsonSchema": SESSION_SCHEMA},
            validationLevel="strict",
            validationAction="error",
        )
    except CollectionInvalid:  # exists: update the validator if it differs
        options = db[name].options()
        if options.get("validator") != {"$jsonSchema": SESSION_SCHEMA}:
            db.command(
                "collMod",
                name,
                validator={"$jsonSchema": SESSION_SCHEMA},
                validationLevel="strict",
                validationAction="error",
            )
    except OperationFailure as exc:
        if exc.code != 48:  # NamespaceExists: another process created it meanwhile
            raise
    collection = db[name]
    existing = collection.index_information()
    if "claim_key" not in existing:  # a store from before claim keys: key its queue first
        unkeyed = {"status": Status.QUEUED.value, "claim_key": None}
        for doc in collection.find(unkeyed, {"priority": 1, "created_at": 1}):
            collection.update_one({"_id": doc["_id"], **unkeyed}, {"$set": queued_fields(doc)})
    for index_name, keys in SESSION_INDEXES.items():  # the claim_key index last: an opening
        if index_name not in existing:  # killed while keying keys the rest next time
            collection.create_index(keys, name=index_name)
    return collection


def ensure_file_indexes(db: Database, bucket: str) -> None:
    """GridFS files are found by session (orphan sweeps, exports)."""
    files = db[f"{bucket}.files"]
    if "session" not in files.index_information():
        files.create_index([("metadata.session_id", ASCENDING)], name="session")


def describe_rejection(exc: OperationFailure) -> list[str]:
    """The fields a 121 rejection complains about, as readable lines
    (``progress.timesteps: comparison failed (minimum 0, got -5)``)."""
    details = ((exc.details or {}).get("errInfo") or {}).get("details") or {}
    problems: list[str] = []
    _walk(details.get("schemaRulesNotSatisfied") or [], "", problems)
    return problems


def _walk(rules: list[dict], prefix: str, out: list[str]) -> None:
    for rule in rules:
        op = rule.get("operatorName", "?")
        if "missingProperties" in rule:
            out += [f"{prefix}{name}: required but missing" for name in rule["missingProperties"]]
        elif "additionalProperties" in rule:
            out += [f"{prefix}{name}: not a session field" for name in rule["additionalProperties"]]
        elif "propertiesNotSatisfied" in rule:
            for prop in rule["propertiesNotSatisfied"]:
                _walk(prop.get("details") or [], f"{prefix}{prop['propertyName']}.", out)
        elif "itemIndex" in rule or op in ("items", "additionalItems"):
            index = rule.get("itemIndex", "*")
            _walk(rule.get("details") or [], f"{prefix}{index}.", out)
        elif "details" in rule and isinstance(rule["details"], list):
            _walk(rule["details"], prefix, out)
        else:
            field = prefix.rstrip(".") or "document"
            reason = rule.get("reason", f"breaks '{op}'")
            spec = rule.get("specifiedAs") or {}
            wanted = "; ".join(f"{key} {_show(value)}" for key, value in spec.items())
            got = f"got {_short(rule['consideredValue'])}" if "consideredValue" in rule else ""
            said = ", ".join(part for part in (f"expected {wanted}" if wanted else "", got) if part)
            out.append(f"{field}: {reason}" + (f" ({said})" if said else ""))


def _show(value: Any) -> str:
    return "|".join(map(str, value)) if isinstance(value, list) else str(value)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
