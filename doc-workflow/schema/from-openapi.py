#!/usr/bin/env python3
"""Writes transport-document-3.0.json from the DCSA eBL 3.0 OpenAPI definition.

Usage: from-openapi.py EBL_v3.0.4.yaml > transport-document-3.0.json

The DCSA standard publishes its rules as an OpenAPI 3.0 document (DCSA-OpenAPI,
ebl/v3/EBL_v3.0.4.yaml). This script takes its `TransportDocument` schema and every schema
it reaches through `$ref`, and writes them as one JSON Schema (draft 2020-12) with the
referenced schemas under `$defs`, so that Silkline validates against the standard's own
rules rather than a hand-written copy of them. It changes only what OpenAPI 3.0 spells
differently from JSON Schema, leaves out the prose (descriptions and examples), and then adds
the conditions the standard states only in prose (CONDITIONS below), each with a `$comment`
quoting the rule. Run it again when DCSA publishes a new 3.0 patch release, and review the
diff.

Needs PyYAML. A development tool: nothing at build or run time depends on it.
"""

import json
import sys

import yaml

ROOT = "TransportDocument"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Annotations of OpenAPI that carry no rule.
DROPPED = {"description", "example", "examples", "title", "externalDocs", "xml"}


def convert(node):
    """OpenAPI 3.0 schema object -> JSON Schema 2020-12."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DROPPED:
            continue
        if key == "$ref":
            out["$ref"] = "#/$defs/" + value.rsplit("/", 1)[1]
        elif key == "properties":
            out[key] = {name: convert(schema) for name, schema in value.items()}
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # OpenAPI 3.0: a boolean that makes `minimum`/`maximum` exclusive.
            continue
        elif key == "format" and value in ("int32", "int64", "float", "double"):
            # Number formats: int32 becomes bounds below; float/double say nothing JSON can.
            continue
        elif key == "nullable":
            raise SystemExit("nullable is not used by eBL 3.0; convert it before relying on it")
        else:
            out[key] = convert(value)
    if node.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum")
    if node.get("exclusiveMaximum") is True:
        out["exclusiveMaximum"] = out.pop("maximum")
    if node.get("format") == "int32":
        out["minimum"] = max(out.get("minimum", INT32_MIN), INT32_MIN)
        out["maximum"] = min(out.get("maximum", INT32_MAX), INT32_MAX)
    return out


def reachable(schemas, name, seen):
    if name in seen:
        return
    seen.append(name)

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    reachable(schemas, value.rsplit("/", 1)[1], seen)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schemas[name])


def location_ways(defs, name, ways):
    """'The location can be specified in **any** of the following ways: ...'"""
    defs[name].setdefault("allOf", []).append({
        "$comment": "DCSA: the location can be specified in any of the following ways: "
        + ", ".join(ways) + ".",
        "anyOf": [{"required": [way]} for way in ways],
    })


# The conditions the standard states in prose, written as schema. A prose condition that the
# standard's own example documents do not follow is left out and named in NOT_WRITTEN, so that
# every DCSA example document stays valid.
def conditions(defs):
    td = defs["TransportDocument"]
    td["allOf"] = [
        {
            "$comment": "DCSA: `isToOrder` must be `false` if `transportDocumentTypeCode='SWB'`.",
            "if": {"properties": {"transportDocumentTypeCode": {"const": "SWB"}},
                   "required": ["transportDocumentTypeCode"]},
            "then": {"properties": {"isToOrder": {"const": False}}},
        },
        {
            "$comment": "DCSA Consignee: mandatory for non-negotiable BL (`isToOrder=false`). "
            "DCSA Endorsee: can only be provided for negotiable BLs (`isToOrder=true`).",
            "if": {"properties": {"isToOrder": {"const": False}}, "required": ["isToOrder"]},
            "then": {"properties": {"documentParties": {
                "required": ["consignee"],
                "not": {"required": ["endorsee"]},
            }}},
        },
        {
            "$comment": "DCSA declaredValueCurrency: mandatory if `declaredValue` is provided. "
            "If `declaredValue` is not provided, this field must be empty.",
            "dependentRequired": {
                "declaredValue": ["declaredValueCurrency"],
                "declaredValueCurrency": ["declaredValue"],
            },
        },
    ]
    defs["DocumentParties"]["allOf"] = [{
        "$comment": "DCSA: `Consignee` and `Endorsee` are mutually exclusive.",
        "not": {"required": ["consignee", "endorsee"]},
    }]
    defs["Transports"]["allOf"] = [{
        "$comment": "DCSA preCarriageBy: if this attribute is populated, then a Place of Receipt "
        "must also be defined; onCarriageBy: then a Place of Delivery must also be defined.",
        "dependentRequired": {
            "preCarriageBy": ["placeOfReceipt"],
            "onCarriageBy": ["placeOfDelivery"],
        },
    }]
    for port in ("PortOfLoading", "PortOfDischarge"):
        location_ways(defs, port, ["UNLocationCode", "city"])
    for place in ("PlaceOfReceipt", "PlaceOfDelivery"):
        location_ways(defs, place, ["UNLocationCode", "facility", "address", "addressLines",
                                    "geoCoordinate"])
    location_ways(defs, "OnwardInlandRouting", ["UNLocationCode", "facility", "address",
                                                "addressLines"])
    defs["ActiveReeferSettings"]["allOf"] = [{
        "$comment": "DCSA temperatureUnit: mandatory if `temperatureSetpoint` is provided; "
        "airExchangeUnit: mandatory if `airExchangeSetpoint` is provided. Otherwise each must "
        "be empty.",
        "dependentRequired": {
            "temperatureSetpoint": ["temperatureUnit"],
            "temperatureUnit": ["temperatureSetpoint"],
            "airExchangeSetpoint": ["airExchangeUnit"],
            "airExchangeUnit": ["airExchangeSetpoint"],
        },
    }]
    defs["UtilizedTransportEquipment"]["allOf"] = [{
        "$comment": "DCSA ActiveReeferSettings: only applicable when `isNonOperatingReefer` is "
        "set to `false`.",
        "if": {"required": ["activeReeferSettings"]},
        "then": {"properties": {"isNonOperatingReefer": {"const": False}}},
    }]


NOT_WRITTEN = [
    "Exactly one of shippedOnBoardDate and receivedForShipmentDate, and an issueDate, on an "
    "issued B/L; at most one original of an electronic B/L (numberOfOriginalsWithCharges + "
    "numberOfOriginalsWithoutCharges <= 1); every cargo item's equipmentReference names one "
    "of the utilizedTransportEquipments: Silkline checks these in Rust "
    "(doc-workflow/src/content.rs), because they depend on the document's status on the "
    "ledger or compare values with each other.",
    "notifyParties mandatory for to-order B/Ls and 'either the address or a party "
    "identifyingCode must be provided' for shippers and notify parties: DCSA's own example "
    "documents (regularSTDExample) do not follow them, so they are not enforced.",
    "Which ISOEquipmentCode shows a reefer, how many displayedAddress lines a paper B/L may "
    "print, and the code lists named only in prose (eblPlatform, packaging, IMO classes): "
    "descriptions, not rules a document can be checked against without the lists.",
]


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        openapi = yaml.safe_load(f)
    version = openapi["info"]["version"]
    schemas = openapi["components"]["schemas"]
    names = []
    reachable(schemas, ROOT, names)
    defs = {name: convert(schemas[name]) for name in names}
    conditions(defs)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": " ".join([
            f"DCSA eBL {version} TransportDocument, written by from-openapi.py from "
            f"DCSA-OpenAPI ebl/v3/EBL_v{version}.yaml: every schema it references is under "
            "$defs; descriptions and examples are left out; OpenAPI 3.0's boolean "
            "exclusiveMinimum and int32 formats are written as JSON Schema bounds.",
            "Prose conditions of the standard are written as allOf entries with a $comment. "
            "Not written here:",
        ] + NOT_WRITTEN),
        "$ref": f"#/$defs/{ROOT}",
        "$defs": defs,
    }
    json.dump(schema, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
