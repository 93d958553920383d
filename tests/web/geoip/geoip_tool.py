#!/usr/bin/env python3
"""Reference side of tests/web/api_geoip.rs, independent of the monitor's code.

  geoip_tool.py city-path
      The GeoLite2 City database (2018, CC BY-SA 4.0) of the PyPI package maxminddb-geolite2.
  geoip_tool.py write-asn OUT LABEL
      An ASN database in GeoLite2-ASN's layout, written with the PyPI package mmdb-writer:
      0.0.0.0/1 is AS64501 "LABEL lower half", 128.0.0.0/1 AS64502 "LABEL upper half",
      2000::/3 AS64503 "LABEL global IPv6".
  geoip_tool.py write-ipinfo OUT
      A country-and-ASN database in IPinfo Lite's layout (country_code, country, asn "AS…",
      as_name): 0.0.0.0/0 is FR, France, AS64510 "IPinfo sample".
  geoip_tool.py lookup DB[,DB...] ADDRESS...
      One JSON object {address: {country, country_name, asn, org}} read with the PyPI package
      maxminddb: each field from the first database that has it (GeoLite2/DB-IP layout:
      country.iso_code or registered_country.iso_code, country.names.en,
      autonomous_system_number, autonomous_system_organization; IPinfo Lite's layout:
      country_code, country, asn, as_name). Unknown fields are left out.
"""
import json
import sys


def city_path():
    from _maxminddb_geolite2 import geolite2_database

    print(geolite2_database())


def write_asn(out, label):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                        description={"en": f"test ASN database {label}"})
    for network, asn, org in [
        ("0.0.0.0/1", 64501, f"{label} lower half"),
        ("128.0.0.0/1", 64502, f"{label} upper half"),
        ("2000::/3", 64503, f"{label} global IPv6"),
    ]:
        writer.insert_network(IPSet([network]), {
            "autonomous_system_number": asn,
            "autonomous_system_organization": org,
        })
    writer.to_db_file(out)


def write_ipinfo(out):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="ipinfo lite.mmdb",
                        description={"en": "test IPinfo Lite layout"})
    writer.insert_network(IPSet(["0.0.0.0/0"]), {
        "country_code": "FR",
        "country": "France",
        "asn": "AS64510",
        "as_name": "IPinfo sample",
    })
    writer.to_db_file(out)


def place_of(record):
    if not isinstance(record, dict):
        return {}
    place = {}
    country = record.get("country")
    registered = record.get("registered_country")
    if isinstance(country, dict) and country.get("iso_code"):
        place["country"] = country["iso_code"].upper()
    elif isinstance(registered, dict) and registered.get("iso_code"):
        place["country"] = registered["iso_code"].upper()
    elif isinstance(record.get("country_code"), str) and record["country_code"]:
        place["country"] = record["country_code"].upper()
    if isinstance(country, dict) and country.get("names", {}).get("en"):
        place["country_name"] = country["names"]["en"]
    elif isinstance(registered, dict) and registered.get("names", {}).get("en"):
        place["country_name"] = registered["names"]["en"]
    elif isinstance(country, str) and record.get("country_code"):
        place["country_name"] = country
    if isinstance(record.get("autonomous_system_number"), int):
        place["asn"] = record["autonomous_system_number"]
    elif isinstance(record.get("asn"), str) and record["asn"].upper().startswith("AS"):
        place["asn"] = int(record["asn"][2:])
    if record.get("autonomous_system_organization"):
        place["org"] = record["autonomous_system_organization"]
    elif record.get("as_name"):
        place["org"] = record["as_name"]
    return place


def lookup(databases, addresses):
    import maxminddb

    readers = [maxminddb.open_database(path) for path in databases.split(",")]
    answer = {}
    for address in addresses:
        place = {}
        for reader in readers:
            for field, value in place_of(reader.get(address)).items():
                place.setdefault(field, value)
        answer[address] = place
    print(json.dumps(answer, sort_keys=True))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "city-path":
        city_path()
    elif command == "write-asn":
        write_asn(*args)
    elif command == "write-ipinfo":
        write_ipinfo(*args)
    elif command == "lookup":
        lookup(args[0], args[1:])
    else:
        sys.exit(f"unknown command {command}")
