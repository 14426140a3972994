"""Reference answers for exercises/09_winograd.ipynb (one function per cell to fill in)."""
import numpy as np


def winograd_1d(g, d, AT, G, BT):
    """The 4 outputs y[i] = g[0] d[i] + g[1] d[i + 1] of a 2-tap filter g over 5 inputs d, with 5 multiplications."""
    return AT @ ((G @ g) * (BT @ d))


def winograd_tile_2d(g, d, AT, G, BT):
    """The 4x4 outputs Y[i, j] = sum over u, v of g[u, v] d[i + u, j + v] of a 2x2 filter g over a 5x5 tile d."""
    return AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T


def phases(x_pad):
    """(N, C, H, W), H and W even -> (N, 4C, H/2, W/2): channel (2p + q) C + c is x_pad[:, c, p::2, q::2]."""
    n, c, h, w = x_pad.shape
    split = x_pad.reshape(n, c, h // 2, 2, w // 2, 2)  # row 2a + p -> (a, p), column 2b + q -> (b, q)
    return split.transpose(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, h // 2, w // 2)  # (n, p, q, c, a, b)


def stride2_tile(x, weight, AT, G, BT):
    """conv2d(x, weight, stride=2, padding=1) of one 8x8 image x (C, 8, 8) with one filter weight (C, 4, 4): (4, 4)."""
    x_pad = np.pad(x, ((0, 0), (1, 1), (1, 1)))  # (C, 10, 10): each phase is one 5x5 tile
    tiles, filters = phases(x_pad[None])[0], phases(weight[None])[0]  # (4C, 5, 5), (4C, 2, 2), the same order
    return sum(winograd_tile_2d(g, d, AT, G, BT) for g, d in zip(filters, tiles))
