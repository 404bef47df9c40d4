#!/usr/bin/env bash
# Creates .venv in the repository root and installs compound with every extra the demo and
# the tests need. Idempotent: a second run with nothing changed returns in about a second.
#
# llama-cpp-python ships only as source on PyPI and its build takes minutes, so the wheel is
# built once into a cache shared by every clone on this machine, keyed by Python version,
# architecture and CPU features (the build targets the host CPU).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
LLAMA_VERSION=0.3.36
EXTRAS=${COMPOUND_EXTRAS:-all,dev}

find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "compound needs Python 3.11 or newer; none was found on PATH (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

stamp="$VENV/.compound-setup"
fingerprint=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && [ -x "$VENV/bin/compound" ]; then
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    py=$(find_python)
    echo "==> creating $VENV with $($py --version)"
    "$py" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

pyver=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
cpu=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m; echo build-2) | sha256sum | cut -c1-12)
wheels="${COMPOUND_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/compound/wheels}/$pyver-$(uname -m)-$cpu"
mkdir -p "$wheels"
if ! ls "$wheels"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    echo "==> building llama-cpp-python $LLAMA_VERSION once into $wheels (about 5-7 minutes on 2 cores)"
    # llama.cpp's native build enables the AMX kernels on CPUs that report AMX, and those crash
    # (SIGSEGV in ggml_backend_amx_mul_mat) on the virtual machines we run on. So we name the
    # instruction sets instead: AVX2 everywhere, AVX-512 where the CPU has it, never AMX.
    flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
    if grep -q avx512_vnni /proc/cpuinfo 2>/dev/null && grep -q avx512_bf16 /proc/cpuinfo; then
        flags="$flags -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_BF16=ON"
    fi
    if [ "$(uname -m)" != "x86_64" ]; then flags=""; fi
    CMAKE_ARGS="${CMAKE_ARGS:-$flags -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
        "${pip[@]}" wheel --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$wheels.tmp"
    mv "$wheels.tmp"/llama_cpp_python-*.whl "$wheels"/ && rm -rf "$wheels.tmp"
fi

# compound finetune: PyTorch's CPU wheel first and alone, so that nothing after it pulls a
# CUDA build; then the finetune extra with the rest.
if [ "${COMPOUND_FINETUNE:-1}" = 1 ]; then
    "${pip[@]}" install --quiet "torch==2.13.0"
    EXTRAS="$EXTRAS,finetune"
fi
echo "==> installing compound[$EXTRAS] into $VENV"
"${pip[@]}" install --quiet --find-links "$wheels" -e ".[$EXTRAS]"
echo "$fingerprint" > "$stamp"
echo "==> ready: $VENV/bin/compound"
