"""collMod and document validation ($jsonSchema required/bsonType/properties and
query operators; validationLevel, validationAction), SEMANTICS.md section 11."""

import pytest
from pymongo.errors import OperationFailure, WriteError

from conftest import FAST, direct, error_of, primary_of, wait_for

SCHEMA = {"$jsonSchema": {"bsonType": "object", "required": ["name", "age"], "properties": {
    "name": {"bsonType": "string"}, "age": {"bsonType": ["int", "long"], "minimum": 0}}}}


@pytest.fixture
def primary(make_cluster):
    cluster = make_cluster(2)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    host = primary_of(cluster.hosts)
    client = direct(host)
    client.secondary_host = next(h for h in cluster.hosts if h != host)
    return client


def _write_error(fn):
    with pytest.raises(WriteError) as info:
        fn()
    return info.value.details


def test_coll_mod_validator_is_enforced_and_replicated(primary):
    people = primary.app.people
    people.insert_one({"_id": 1, "name": "old"})  # written before the validator
    reply = primary.app.command("collMod", "people", validator=SCHEMA)
    assert reply["ok"] == 1.0 and "errmsg" not in reply
    people.insert_one({"_id": 2, "name": "ann", "age": 30})
    error = _write_error(lambda: people.insert_one({"_id": 3, "name": "bob"}))
    assert (error["code"], error["errmsg"]) == (121, "Document failed validation")
    assert error["errInfo"]["failingDocumentId"] == 3
    assert _write_error(lambda: people.insert_one({"_id": 4, "name": 5, "age": 1}))["code"] == 121
    assert _write_error(lambda: people.insert_one({"_id": 5, "name": "x", "age": -1}))["code"] == 121
    assert _write_error(lambda: people.update_one({"_id": 2}, {"$unset": {"age": 1}}))["code"] == 121
    # strict (the default) checks updates of documents that already failed too
    assert _write_error(lambda: people.update_one({"_id": 1}, {"$set": {"name": "new"}}))["code"] == 121
    people.insert_one({"_id": 6, "name": "bypass"}, bypass_document_validation=True)
    with pytest.raises(OperationFailure) as info:
        people.find_one_and_update({"_id": 2}, {"$set": {"age": "old"}})
    assert info.value.code == 121
    options = primary.app.command("listCollections", filter={"name": "people"})["cursor"]["firstBatch"][0]["options"]
    assert options["validator"] == SCHEMA
    secondary = direct(primary.secondary_host)
    wait_for(lambda: secondary.app.command("listCollections", filter={"name": "people"})["cursor"]["firstBatch"][0]
             ["options"].get("validator") == SCHEMA, what="the validator on the secondary")


def test_validation_level_and_action(primary):
    people = primary.app.people
    people.insert_one({"_id": 1, "name": "old"})
    primary.app.command("collMod", "people", validator={"age": {"$gte": 18}}, validationLevel="moderate")
    people.update_one({"_id": 1}, {"$set": {"name": "still invalid, allowed under moderate"}})
    people.insert_one({"_id": 2, "age": 20})
    assert _write_error(lambda: people.update_one({"_id": 2}, {"$set": {"age": 3}}))["code"] == 121
    primary.app.command("collMod", "people", validationAction="warn")
    people.insert_one({"_id": 3, "age": 1})
    assert people.count_documents({"_id": 3}) == 1
    primary.app.command("collMod", "people", validationAction="error", validationLevel="off")
    people.insert_one({"_id": 4, "age": 1})
    primary.app.command("collMod", "people", validationLevel="strict")
    assert _write_error(lambda: people.insert_one({"_id": 5, "age": 1}))["code"] == 121
    primary.app.command("collMod", "people", validator={})
    people.insert_one({"_id": 6, "age": 1})


def test_create_with_validator(primary):
    primary.app.create_collection("typed", validator={"$jsonSchema": {"required": ["k"]}})
    assert _write_error(lambda: primary.app.typed.insert_one({"x": 1}))["code"] == 121
    primary.app.typed.insert_one({"k": 1})


@pytest.mark.parametrize("args, code, message", [
    ({"collMod": "nosuch", "validator": {}}, 26, "ns does not exist: app.nosuch"),
    ({"collMod": "people", "validationLevel": "sometimes"}, 2,
     "Enumeration value 'sometimes' for field 'collMod.validationLevel' is not a valid value."),
    ({"collMod": "people", "validationAction": "shout"}, 2,
     "Enumeration value 'shout' for field 'collMod.validationAction' is not a valid value."),
    ({"collMod": "people", "validator": {"$jsonSchema": {"bsonTyp": "object"}}}, 9,
     "Unknown $jsonSchema keyword: bsonTyp"),
    ({"collMod": "people", "validator": {"$jsonSchema": {"oneOf": [{}]}}}, 2,
     "mongosim does not implement the $jsonSchema keyword 'oneOf'"),
    ({"collMod": "people", "validator": {"$where": "true"}}, 2, "$where is not allowed in collection validators"),
    ({"collMod": "people", "colour": 1}, 40415, "BSON field 'collMod.colour' is an unknown field."),
    ({"collMod": "people", "index": {"name": "x_1", "hidden": True}}, 2,
     "mongosim does not implement collMod option 'index'"),
])
def test_coll_mod_refusals(primary, args, code, message):
    primary.app.people.insert_one({})
    assert error_of(lambda: primary.app.command(args)) == (code, message)


def test_no_validators_on_system_databases(primary):
    primary.admin.things.insert_one({})
    assert error_of(lambda: primary.admin.command("collMod", "things", validator={"a": 1})) == (
        72, "Document validators are not allowed on collections in the admin database")
