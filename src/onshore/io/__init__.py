"""Reading and writing tables: CSV, XLSX, Parquet and JSON in; Parquet and CSV out."""

from onshore.io.load import import_files, load_files, parse_tables, reference_files
from onshore.io.readers import RawTable, read_file

__all__ = ["RawTable", "import_files", "load_files", "parse_tables", "read_file", "reference_files"]
