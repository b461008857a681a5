"""Running a rule pack on Apache Flink: `sleuth flink run` (see docs/scale-out.md).

`core` is the data flow as plain Python (chunked reading, time order,
keyed stages holding each key's engine state as bytes); `job` wires it into
a PyFlink DataStream job and needs the `flink` extra
(`pip install 'sleuth[flink]'`) and Java 11 or later. Only `job` imports
pyflink, and only when it is used.
"""
