"""torch.nn.functional-style names for every op, gathered from the op families in `ops/`.

    import tinygan.functional as F
    y = F.conv2d(x, w, b, stride=2, padding=1)
"""
from .ops.activation import leaky_relu, relu, sigmoid, tanh
from .ops.conv import conv2d, conv_transpose2d
from .ops.dropout import dropout
from .ops.embedding import embedding
from .ops.linalg import linear, matmul
from .ops.loss import binary_cross_entropy, binary_cross_entropy_with_logits, mse_loss
from .ops.norm import batch_norm, batch_norm_activation
from .ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_unpool2d
from .ops.upsample import interpolate

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "linear", "matmul", "conv2d", "conv_transpose2d",
           "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss"]
__all__ += ["max_pool2d", "avg_pool2d", "max_unpool2d", "adaptive_avg_pool2d", "interpolate"]
__all__ += ["dropout", "embedding"]
__all__ += ["batch_norm_activation"]  # not in torch: batch_norm then leaky_relu as one op (nn.Sequential's fusion)
