"""tf_compact.lite: TFLite conversion, QAT, Edge TPU check, benchmarks.

Example:

```python
import tf_compact as tfc

tflite = tfc.lite.convert(model, mode="int8", representative_data=x[:200])
print(tfc.lite.edgetpu_report(tflite).table())
coral = tfc.lite.convert(model, "int8", representative_data=x[:200],
                         target="edgetpu")
print(coral.edgetpu.summary())
print(tfc.lite.benchmark(tflite, num_threads=1).to_dict())
```
"""

from tf_compact.internal.benchmark_tool import BenchmarkToolError
from tf_compact.internal.benchmark_tool import parse_benchmark_model
from tf_compact.internal.benchmark_tool import parse_litert_benchmark
from tf_compact.lite.benchmark import benchmark
from tf_compact.lite.benchmark_result import BenchmarkResult
from tf_compact.lite.benchmark_result import compare
from tf_compact.lite.bridge import to_tf_keras
from tf_compact.lite.converter import MODES
from tf_compact.lite.converter import convert
from tf_compact.lite.edgetpu import EdgeTpuReport
from tf_compact.lite.edgetpu import edgetpu_report
from tf_compact.lite.edgetpu_compiler import CompilerLog
from tf_compact.lite.edgetpu_compiler import parse_compiler_log
from tf_compact.lite.edgetpu_compiler import run_compiler
from tf_compact.lite.edgetpu_delegate import load_edgetpu_delegate
from tf_compact.lite.edgetpu_findings import Finding
from tf_compact.lite.edgetpu_graph import is_compiled_for_edgetpu
from tf_compact.lite.edgetpu_rules import EDGETPU_OPS
from tf_compact.lite.errors import BridgeError
from tf_compact.lite.errors import ConversionError
from tf_compact.lite.errors import QuantizationError
from tf_compact.lite.errors import RuntimeUnavailableError
from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.gpu_delegate import GpuReport
from tf_compact.lite.gpu_delegate import gpu_report
from tf_compact.lite.inference import accuracy_of
from tf_compact.lite.inference import predict
from tf_compact.lite.inference import run_interpreter
from tf_compact.lite.metadata import ModelMetadata
from tf_compact.lite.metadata import TensorMetadata
from tf_compact.lite.metadata import read_metadata
from tf_compact.lite.metadata_writer import add_metadata
from tf_compact.lite.ops import OpRecord
from tf_compact.lite.ops import read_ops
from tf_compact.lite.qat import qat
from tf_compact.lite.qat import quantize_model
from tf_compact.lite.result import ConversionResult
from tf_compact.lite.runtime import RuntimeInfo
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.runtime_modules import RUNTIMES
from tf_compact.lite.signature import set_signature
from tf_compact.lite.signature import signature_names
from tf_compact.lite.verification_checks import FLOAT_TOLERANCE

__all__ = [
    "BenchmarkResult",
    "BenchmarkToolError",
    "BridgeError",
    "CompilerLog",
    "ConversionError",
    "ConversionResult",
    "EDGETPU_OPS",
    "EdgeTpuReport",
    "FLOAT_TOLERANCE",
    "Finding",
    "GpuReport",
    "MODES",
    "ModelMetadata",
    "OpRecord",
    "QuantizationError",
    "RUNTIMES",
    "RuntimeInfo",
    "RuntimeUnavailableError",
    "TensorMetadata",
    "accuracy_of",
    "add_metadata",
    "benchmark",
    "compare",
    "convert",
    "edgetpu_report",
    "gpu_report",
    "is_compiled_for_edgetpu",
    "load_edgetpu_delegate",
    "load_model_content",
    "make_interpreter",
    "parse_benchmark_model",
    "parse_compiler_log",
    "parse_litert_benchmark",
    "predict",
    "qat",
    "quantize_model",
    "read_metadata",
    "read_ops",
    "run_compiler",
    "run_interpreter",
    "set_signature",
    "signature_names",
    "to_tf_keras",
]
