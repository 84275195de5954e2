"""Result bundles: `llem export` packs runs with a checksum manifest, `llem verify` checks one
(llem/bundle/archive.py holds the format), `llem report BUNDLE` reads one."""
