#!/usr/bin/python3
"""Small .npy files written by real NumPy, for tests/test_npy.cpp.

    /usr/bin/python3 scripts/gen_io_fixtures.py

Needs only NumPy. It rewrites the files under tests/fixtures/io/ and prints each path. The
values are spelled out here and again in the test, which checks that lstm.cpp reads back exactly
what NumPy wrote: every float32 bit pattern, every int64 up to 2^53 + 1.
"""
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "io"


def save(name, array, version=None):
    path = OUT / name
    with open(path, "wb") as f:
        if version is None:
            np.save(f, array)  # NumPy picks the version: 1.0 for these small headers
        else:
            np.lib.format.write_array(f, array, version=version)
    print(path)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # float32 with a value that is not a short decimal (0.1), the largest finite magnitude order,
    # negative zero and a subnormal: all must come back bit for bit.
    f32 = np.array([[1.5, -2.25, 0.1], [3e38, -0.0, 1e-40]], dtype="<f4")
    save("f32_2x3.npy", f32)
    save("f32_2x3_v2.npy", f32, version=(2, 0))
    save("f32_2x3_v3.npy", f32, version=(3, 0))
    save("f32_scalar.npy", np.array(7.25, dtype="<f4"))
    save("f32_0x3.npy", np.zeros((0, 3), dtype="<f4"))
    save("f64_3.npy", np.array([0.1, -2.5, 1e10], dtype="<f8"))
    save("i32_4.npy", np.array([0, -1, 2**31 - 1, -(2**31)], dtype="<i4"))
    save("i64_2x2.npy", np.array([[1, -2], [2**53, -(2**40)]], dtype="<i8"))
    # 2^53 + 1 is the smallest magnitude a double cannot hold.
    save("i64_beyond_double.npy", np.array([2**53 + 1], dtype="<i8"))
    # Files lstm.cpp must reject.
    save("f32_fortran.npy", np.asfortranarray(f32))
    save("i16_3.npy", np.array([1, 2, 3], dtype="<i2"))
    save("f32_big_endian.npy", np.array([1.5, 2.0], dtype=">f4"))


if __name__ == "__main__":
    main()
