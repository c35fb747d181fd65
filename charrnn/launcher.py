"""What an MPI launcher tells each rank through its environment, read without importing NumPy.

The CLI calls `default_blas_threads` before anything imports NumPy, because BLAS reads its
thread count once, when it loads.
"""

import os

# What MPI launchers export to each rank: MPICH/Hydra and Slurm's PMI, Open MPI, MVAPICH.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def first_int(names, default):
    """The first of these environment variables that holds a number, else `default`."""
    for name in names:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return default


def launched_ranks():
    """How many ranks the MPI launcher started (1 when not under one)."""
    return first_int(SIZE_VARIABLES, 1)


def default_blas_threads():
    """Under mpiexec, give each rank its share of this machine's cores for BLAS, unless the
    user set a thread count: K ranks each spinning up all-core BLAS pools would fight."""
    local = first_int(LOCAL_SIZE_VARIABLES, launched_ranks())
    if local > 1 and not any(name in os.environ for name in BLAS_VARIABLES):
        threads = str(max(1, (os.cpu_count() or 1) // local))
        for name in BLAS_VARIABLES:
            os.environ[name] = threads
