"""Result bundles: `llem export` packs runs with a checksum manifest, `llem verify` checks one
(llem/cli/bundle.py), `llem report BUNDLE` reads one; llem/bundle/archive.py holds the format."""
