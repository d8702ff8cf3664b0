"""Type stub of the Rust extension module."""

import numpy as np
import numpy.typing as npt

def split_largest_remainder(total: int, weights: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]: ...
def version() -> str: ...
