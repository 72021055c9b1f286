"""Results I/O: the HDF5 results file (:mod:`.hdf5`: atomic writes, checksums, provenance, read-back), the output's
lock file (:mod:`.lock`), the declared results schema (:mod:`.schema`) and the text table (:mod:`.table`)."""

from mpiheat.io.hdf5 import (
    CHECKSUM,
    CorruptResultsError,
    OutputError,
    StoredResults,
    check_writable,
    provenance,
    read_file,
    read_results,
    remove_stale_temps,
    write_results,
)

__all__ = ["CHECKSUM", "CorruptResultsError", "OutputError", "StoredResults", "check_writable", "provenance",
           "read_file", "read_results", "remove_stale_temps", "write_results"]
