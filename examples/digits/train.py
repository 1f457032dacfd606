"""Train the digits demo CNN with numpy alone and export it to ONNX (opset 13).

    python examples/digits/train.py [--output examples/digits/digits_cnn.onnx]

Model (NCHW, "input" float32 [1,1,8,8] in [0,1] -> "logits" float32 [1,10]):
    Conv 3x3 pad 1 (8) -> Relu -> MaxPool 2x2 -> Conv 3x3 pad 1 (16) -> Relu -> MaxPool 2x2
    -> Flatten -> Gemm (10)
Training is full numpy (im2col convolutions, hand-written backward pass, Adam) in float64 with fixed
seeds, so rerunning it on the same machine writes a byte-identical .onnx.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from threadpoolctl import threadpool_limits  # installed with scikit-learn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402  (the shared split lives beside this script)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "digits_cnn.onnx")
INIT_SEED = 1
EPOCHS = 30
BATCH = 32
LR = 3e-3
CHANNELS = (8, 16)


# ---- layers: each forward returns (output, cache); each backward takes (grad, cache) ----

def im2col(x):
    """[N,C,H,W] -> [N*H*W, C*9]: 3x3 patches with zero padding 1, columns ordered (C, kh, kw)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N,C,H,W,3,3
    return patches.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9)


def col2im(dcols, shape):
    """Adjoint of im2col: scatter-add patch gradients back onto the [N,C,H,W] input."""
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dxp = np.zeros((n, c, h + 2, w + 2), dcols.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i:i + h, j:j + w] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, 1:-1, 1:-1]


def conv_forward(x, w, b):
    n, _, h, wd = x.shape
    cols = im2col(x)
    out = cols @ w.reshape(len(w), -1).T + b
    return out.reshape(n, h, wd, len(w)).transpose(0, 3, 1, 2), (cols, x.shape, w)


def conv_backward(dout, cache):
    cols, shape, w = cache
    dflat = dout.transpose(0, 2, 3, 1).reshape(-1, len(w))
    dw = (dflat.T @ cols).reshape(w.shape)
    dx = col2im(dflat @ w.reshape(len(w), -1), shape)
    return dx, dw, dflat.sum(axis=0)


def maxpool_forward(x):
    """2x2 stride 2; the cache keeps which of the four won (first on ties) for the backward pass."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], (arg, x.shape)


def maxpool_backward(dout, cache):
    arg, (n, c, h, w) = cache
    dwin = np.zeros(dout.shape + (4,), dout.dtype)
    np.put_along_axis(dwin, arg[..., None], dout[..., None], -1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


# ---- model ----

def init_params(seed=INIT_SEED):
    """He-normal weights, zero biases."""
    rng = np.random.default_rng(seed)
    c1, c2 = CHANNELS

    def he(shape, fan_in):
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    return {
        "conv1.w": he((c1, 1, 3, 3), 9), "conv1.b": np.zeros(c1),
        "conv2.w": he((c2, c1, 3, 3), c1 * 9), "conv2.b": np.zeros(c2),
        "fc.w": he((10, c2 * 4), c2 * 4), "fc.b": np.zeros(10),
    }


def forward(p, x):
    """Logits [N,10] and the caches the backward pass needs."""
    a1, k1 = conv_forward(x, p["conv1.w"], p["conv1.b"])
    r1 = np.maximum(a1, 0)
    m1, q1 = maxpool_forward(r1)
    a2, k2 = conv_forward(m1, p["conv2.w"], p["conv2.b"])
    r2 = np.maximum(a2, 0)
    m2, q2 = maxpool_forward(r2)
    flat = m2.reshape(len(x), -1)  # NCHW order, as ONNX Flatten
    logits = flat @ p["fc.w"].T + p["fc.b"]
    return logits, (k1, a1, q1, k2, a2, q2, flat, m2.shape)


def backward(p, dlogits, caches):
    k1, a1, q1, k2, a2, q2, flat, m2_shape = caches
    g = {"fc.w": dlogits.T @ flat, "fc.b": dlogits.sum(axis=0)}
    d = (dlogits @ p["fc.w"]).reshape(m2_shape)
    d = maxpool_backward(d, q2) * (a2 > 0)
    d, g["conv2.w"], g["conv2.b"] = conv_backward(d, k2)
    d = maxpool_backward(d, q1) * (a1 > 0)
    _, g["conv1.w"], g["conv1.b"] = conv_backward(d, k1)
    return g


def loss_and_grad(p, x, y):
    """Mean softmax cross-entropy over the batch and its gradient."""
    logits, caches = forward(p, x)
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(prob[np.arange(len(y)), y]).mean()
    prob[np.arange(len(y)), y] -= 1
    return loss, backward(p, prob / len(y), caches)


@threadpool_limits.wrap(limits=1, user_api="blas")  # tiny matrices: BLAS threads only spin on a busy machine
def train(epochs=EPOCHS, seed=INIT_SEED, log=print):
    """Adam on minibatches of the training split; float64 parameters."""
    x, y = data.train_set()
    x = x.astype(np.float64)
    p = init_params(seed)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    rng = np.random.default_rng(seed + 1)
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss, g = loss_and_grad(p, x[idx], y[idx])
            total += loss * len(idx)
            step += 1
            for k in p:
                m[k] = beta1 * m[k] + (1 - beta1) * g[k]
                v[k] = beta2 * v[k] + (1 - beta2) * g[k] ** 2
                mhat = m[k] / (1 - beta1 ** step)
                vhat = v[k] / (1 - beta2 ** step)
                p[k] = p[k] - LR * mhat / (np.sqrt(vhat) + eps)
        if log and (epoch + 1) % 10 == 0:
            log(f"epoch {epoch + 1:3d}  loss {total / len(y):.4f}")
    return {k: val.astype(np.float32) for k, val in p.items()}


def predict_logits(p, x):
    """The numpy model in float32, as exported."""
    return forward(p, x.astype(np.float32))[0]


def accuracy(logits, y):
    return float((logits.argmax(axis=1) == y).mean())


# ---- ONNX export ----

def build_onnx(p):
    """The trained float32 parameters as an opset-13 ONNX model (no timestamps: bytes are reproducible)."""
    c1, c2 = CHANNELS
    inits = [numpy_helper.from_array(np.ascontiguousarray(val, np.float32), name) for name, val in p.items()]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.w", "conv2.b"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("MaxPool", ["relu2"], ["pool2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="microc examples/digits/train.py",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7  # the IR version that introduced opset 13; widely loadable
    onnx.checker.check_model(model, full_check=True)
    return model


def params_from_onnx(model):
    """The initializers of an exported model, keyed as train() returns them."""
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def onnxruntime_logits(model_bytes, x):
    """Run the exported model one image at a time (its batch dimension is fixed at 1)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], {"input": xi[None]})[0] for xi in x])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default=DEFAULT_OUTPUT, help="where to write the .onnx")
    args = ap.parse_args(argv)

    params = train()
    x_test, y_test = data.heldout_set()
    ours = predict_logits(params, x_test)
    print(f"held-out float accuracy (numpy): {accuracy(ours, y_test):.4f} on {len(y_test)} images")

    model_bytes = build_onnx(params).SerializeToString()
    with open(args.output, "wb") as f:
        f.write(model_bytes)
    print(f"wrote {args.output} ({len(model_bytes)} bytes)")

    theirs = onnxruntime_logits(model_bytes, x_test)
    agree = (theirs.argmax(axis=1) == ours.argmax(axis=1)).mean()
    err = np.abs(theirs - ours).max()
    print(f"onnxruntime: accuracy {accuracy(theirs, y_test):.4f}, predictions agree {agree:.4f}, "
          f"max |logit diff| {err:.2e}")
    return 0 if agree == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
