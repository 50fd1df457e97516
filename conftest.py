"""Session-wide test settings (applies to tests/ and to the doctests in pyg_tabular/)."""

import torch

# The test models are tiny; on the 2 shared CI cores a second OpenMP thread only
# adds contention (seen: 12x slower training). Benchmarks set their own threads.
torch.set_num_threads(1)
