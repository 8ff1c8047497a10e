"""The program file (TOML) that users write, parsed into a `PumpProgram`. Pure: text in, program out."""

from openidds.programfile.parser import parse_instant, parse_program, program_from_dict, read_toml

__all__ = ["parse_instant", "parse_program", "program_from_dict", "read_toml"]
