"""The compiled kernel: the one implementation of fills, costs, equity, stops and rewards,
and the observation plumbing around it, for one account (TradingEnv) or N (batched).

`advance` moves one account (row ``i`` of a state matrix) by one bar. The single
environment calls it through `step_single` (one account, scalar target); the batched
environment loops it over N accounts inside numba (`step_batch`). Both run the same
compiled arithmetic, which is how "exactly the same accounting" holds by construction.

Everything numba compiles lives in this one file, constants included: numba's on-disk
cache (cache=True) is invalidated per source file, so a kernel split over modules could
keep running a stale copy of a function edited in another file.

Conventions (a decision taken after bar t closes, applied in bar t+1):

* Fill price ``P`` = bar t+1's open (or vwap/close, `execution.price`); precomputed per bar
  together with the slippage fraction ``s = slippage_bps / 1e4 + range_fraction *
  (high - low) / P`` of that same bar (see `inputs.market_arrays`).
* Target exposure ``tau`` in [-1, 1]. A trade happens only when ``|tau - held target| >
  min_trade`` (0 for discrete actions) and the equity at the fill ``E_fill = cash + units *
  P`` is positive; target units ``= tau * max_leverage * E_fill / P``, clipped to
  ``+-max_units``. Holding the same target lets the position drift with the price.
* Execution price ``P * (1 + sign(trade) * s)``; fee ``fee_rate * |trade| * exec +
  fixed_fee``; ``cash -= trade * exec + fee``; costs ``= fee + |trade| * P * s``. Shorts
  are negative units (cash credited).
* Equity ``= cash + units * close[t+1]``, marked to market; an open position is not closed
  at the end of an episode. ``equity_change = E[t+1] - E[t]`` sums to the final PnL.
* Stops: terminated when equity <= ruin_fraction * initial cash, or when the drawdown
  ``1 - E / peak E`` exceeds max_drawdown; truncated at the episode's last bar.
* Rewards (times `scale`): log_return ``log(E[t+1] / E[t])`` (equity floored at 1e-9 of the
  initial cash so ruin gives a large finite penalty); differential Sharpe ratio (Moody &
  Saffell 2001) of simple returns with moments A, B; drawdown_penalty = log return -
  lambda * increase of the drawdown.
* Average entry price: set by a trade that opens or flips, volume-weighted when adding,
  kept when reducing, 0 when flat; unrealised PnL ``= units * (close - entry)``.

Observations (the drivers below add only this plumbing to the accounting): write the
agent's state at the new bar's close into the observation row of that bar, and copy the
last `window` rows out.

* Single env: rows live in a grid [T, F + S] (features filled once; state columns written
  as the episode goes). Observations are copied into consecutive slots of a "chunk"
  [CHUNK, W, F + S] allocated every CHUNK steps, so each step returns a fresh array (no
  memory shared with any other observation) for the price of a view.
* Batched env: each account keeps a mirrored ring [2W, F + S] of its last rows: the row of
  the bar in ring slot s (0 <= s < W) is written to rows s and s + W, so the last W rows
  always sit contiguously at rows s + 1 ... s + W and leave as one block copy.

Arrays cross into numba flat (1-D) where rows are computed by hand: a reshape inside
numba costs ~20 ns per call, which is a tenth of a step.

Copies index with unsigned integers: numba's signed indexing handles negative indices,
which keeps LLVM from turning the loop into a memcpy (10x slower).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Columns of the state matrix [n_accounts, N_FIELDS] (float64): first the live account ...
CASH, UNITS, ENTRY, EQUITY, PEAK, TARGET, CHANGED, SHARPE_A, SHARPE_B, DRAWDOWN, BAR, LAST = range(
    12
)
# ... then what the last step did, in the order of the step info (contiguous on purpose).
FILL_PRICE, EXEC_PRICE, STEP_UNITS, EXPOSURE, TRADE, COSTS, STEP_CASH, STEP_EQUITY = range(12, 20)
EQUITY_CHANGE, REWARD, STEP_BAR = 20, 21, 22  # STEP_BAR: the fill bar t+1 of the last step
N_FIELDS = 23
INFO_KEYS = (
    "fill_price",
    "exec_price",
    "units",
    "exposure",
    "trade",
    "costs",
    "cash",
    "equity",
    "equity_change",
)

# The per-bar array is flat [T * BAR_WIDTH]: bar b's values start at b * BAR_WIDTH.
BAR_FILL, BAR_SLIPPAGE, BAR_CLOSE = 0, 1, 2
BAR_WIDTH = 3

# Slots of the parameter vector (float64).
FEE_RATE, FIXED_FEE, MAX_LEVERAGE, MAX_UNITS, MIN_TRADE, RUIN_EQUITY, MAX_DRAWDOWN = range(7)
REWARD_TYPE, SHARPE_ETA, PENALTY, SCALE, WINDOW, INITIAL_CASH, N_STATE, WIDTH = range(7, 15)
STATE_CODES = 15  # WIDTH: observation columns (features + state)
MAX_STATE = 3
N_PARAMS = STATE_CODES + MAX_STATE

REWARD_CODES = {"log_return": 0, "differential_sharpe": 1, "drawdown_penalty": 2}
STATE_CODES_BY_NAME = {"position": 0, "unrealised_pnl": 1, "time_in_position": 2}
EQUITY_FLOOR = 1e-9  # share of the initial cash below which log returns are floored
VARIANCE_FLOOR = 1e-20  # differential Sharpe: no reward until the moments have a variance


@njit(cache=True)
def advance(state, i, bars, params, tau):
    """Account `i` decides `tau` at bar t, fills in bar t+1, is marked at its close.

    Returns 0 (running), 1 (terminated by a stop), 2 (truncated), 3 (both).
    """
    nb = int(state[i, BAR]) + 1
    fill = bars[nb * BAR_WIDTH + BAR_FILL]
    slip = bars[nb * BAR_WIDTH + BAR_SLIPPAGE]
    close = bars[nb * BAR_WIDTH + BAR_CLOSE]
    cash = state[i, CASH]
    units = state[i, UNITS]
    before = state[i, EQUITY]
    tau = min(max(tau, -1.0), 1.0)  # NaN stays NaN and never trades

    trade = 0.0
    exec_price = fill
    costs = 0.0
    fill_equity = cash + units * fill
    if abs(tau - state[i, TARGET]) > params[MIN_TRADE] and fill_equity > 0.0:
        target = tau * params[MAX_LEVERAGE] * fill_equity / fill
        cap = params[MAX_UNITS]
        target = min(max(target, -cap), cap)
        trade = target - units
        if trade != 0.0:
            side = 1.0 if trade > 0.0 else -1.0
            exec_price = fill * (1.0 + side * slip)
            fee = params[FEE_RATE] * abs(trade) * exec_price + params[FIXED_FEE]
            cash -= trade * exec_price + fee
            costs = fee + abs(trade) * fill * slip
            entry = state[i, ENTRY]
            if target == 0.0:
                entry = 0.0
            elif units == 0.0 or (units > 0.0) != (target > 0.0):
                entry = exec_price
            elif abs(target) > abs(units):
                entry = (units * entry + trade * exec_price) / target
            state[i, ENTRY] = entry
            units = target
            state[i, CHANGED] = nb
        state[i, TARGET] = tau

    equity = cash + units * close
    peak = max(state[i, PEAK], equity)
    drawdown = 1.0 - equity / peak
    floor = EQUITY_FLOOR * params[INITIAL_CASH]
    log_return = math.log(max(equity, floor) / before)
    kind = int(params[REWARD_TYPE])
    if kind == 0:
        reward = log_return
    elif kind == 1:
        ret = equity / before - 1.0
        a = state[i, SHARPE_A]
        b = state[i, SHARPE_B]
        d_a = ret - a
        d_b = ret * ret - b
        variance = b - a * a
        reward = (b * d_a - 0.5 * a * d_b) / variance**1.5 if variance > VARIANCE_FLOOR else 0.0
        state[i, SHARPE_A] = a + params[SHARPE_ETA] * d_a
        state[i, SHARPE_B] = b + params[SHARPE_ETA] * d_b
    else:
        reward = log_return - params[PENALTY] * max(drawdown - state[i, DRAWDOWN], 0.0)

    state[i, CASH] = cash
    state[i, UNITS] = units
    state[i, EQUITY] = equity
    state[i, PEAK] = peak
    state[i, DRAWDOWN] = drawdown
    state[i, BAR] = nb
    state[i, FILL_PRICE] = fill
    state[i, EXEC_PRICE] = exec_price
    state[i, STEP_UNITS] = units
    state[i, EXPOSURE] = units * close
    state[i, TRADE] = trade
    state[i, COSTS] = costs
    state[i, STEP_CASH] = cash
    state[i, STEP_EQUITY] = equity
    state[i, EQUITY_CHANGE] = equity - before
    state[i, REWARD] = reward * params[SCALE]
    state[i, STEP_BAR] = nb

    code = 1 if equity <= params[RUIN_EQUITY] or drawdown > params[MAX_DRAWDOWN] else 0
    if nb >= state[i, LAST]:
        code += 2
    elif code:
        state[i, LAST] = nb  # a stopped episode has ended: no step may follow
    return code


@njit(cache=True)
def reset_account(state, i, params, start, last, clear_outputs):
    """Account `i` flat with the initial cash at bar `start`; its episode ends at `last`."""
    cash = params[INITIAL_CASH]
    for field in range(FILL_PRICE):
        state[i, field] = 0.0
    state[i, CASH] = cash
    state[i, EQUITY] = cash
    state[i, PEAK] = cash
    state[i, CHANGED] = start
    state[i, BAR] = start
    state[i, LAST] = last
    if clear_outputs:
        for field in range(FILL_PRICE, N_FIELDS):
            state[i, field] = 0.0
        state[i, STEP_CASH] = cash
        state[i, STEP_EQUITY] = cash
        state[i, STEP_BAR] = start


@njit(cache=True)
def write_agent_state(state, i, bars, params, row, offset):
    """The agent-state columns of the observation row of account `i`'s current bar."""
    equity = state[i, EQUITY]
    units = state[i, UNITS]
    close = bars[int(state[i, BAR]) * BAR_WIDTH + BAR_CLOSE]
    for k in range(int(params[N_STATE])):
        code = int(params[STATE_CODES + k])
        value = 0.0
        if code == 2:
            value = min((state[i, BAR] - state[i, CHANGED]) / params[WINDOW], 1.0)
        elif equity > 0.0:
            if code == 0:
                value = units * close / equity
            else:
                value = units * (close - state[i, ENTRY]) / equity
        row[offset + k] = value


@njit(cache=True)
def _copy(src, src_at, dst, dst_at, n):
    """``dst[dst_at : dst_at + n] = src[src_at : src_at + n]`` for flat arrays."""
    s = np.uint64(src_at)
    d = np.uint64(dst_at)
    for j in range(n):
        u = np.uint64(j)
        dst[d + u] = src[s + u]


# ---- single environment ----


@njit(cache=True)
def _unpack(book):
    """Views of the book: state [1, N_FIELDS], params [N_PARAMS], flat bars."""
    params_end = N_FIELDS + N_PARAMS
    return book[:, :N_FIELDS], book[0, N_FIELDS:params_end], book[0, params_end:]


@njit(cache=True)
def step_single(book, grid, chunk, k, tau):
    """One step of the account; its observation goes to slot `k` of the flat `chunk`.

    `grid` is the flat [T * (F + S)] row grid. Returns (status, reward, fill price, exec
    price, units, exposure, trade, costs, cash, equity, equity change); status as
    `advance`, or -1 if the episode had already ended (nothing moves then).
    """
    state, params, bars = _unpack(book)
    if state[0, BAR] >= state[0, LAST]:
        code = -1
    else:
        code = advance(state, 0, bars, params, tau)
        bar = int(state[0, BAR])
        width = int(params[WIDTH])
        write_agent_state(state, 0, bars, params, grid, (bar + 1) * width - int(params[N_STATE]))
        size = int(params[WINDOW]) * width
        _copy(grid, (bar + 1) * width - size, chunk, k * size, size)
    return (
        code,
        state[0, REWARD],
        state[0, FILL_PRICE],
        state[0, EXEC_PRICE],
        state[0, STEP_UNITS],
        state[0, EXPOSURE],
        state[0, TRADE],
        state[0, COSTS],
        state[0, STEP_CASH],
        state[0, STEP_EQUITY],
        state[0, EQUITY_CHANGE],
    )


@njit(cache=True)
def reset_single(book, grid, chunk, k, start, last):
    """Flat account at `start`; the window's earlier rows carry a flat (zero) state."""
    state, params, bars = _unpack(book)
    reset_account(state, 0, params, start, last, True)
    width = int(params[WIDTH])
    n_state = int(params[N_STATE])
    size = int(params[WINDOW]) * width
    first = (start + 1) * width - size
    for at in range(first, first + size, width):
        for c in range(width - n_state, width):
            grid[at + c] = 0.0
    write_agent_state(state, 0, bars, params, grid, (start + 1) * width - n_state)
    _copy(grid, first, chunk, k * size, size)


# ---- batched environment ----


@njit(cache=True)
def _ring_push(ring, i, slot, bar, features, state, bars, params, flat):
    """Row of `bar` (features, then agent state or zeros) into ring slot `slot` of account
    i, and into its mirror `slot + W`."""
    window = int(params[WINDOW])
    width = int(params[WIDTH])
    n_features = width - int(params[N_STATE])
    at = (i * 2 * window + slot) * width
    _copy(features, bar * n_features, ring, at, n_features)
    if flat:
        for c in range(n_features, width):
            ring[at + c] = 0.0
    else:
        write_agent_state(state, i, bars, params, ring, at + n_features)
    _copy(ring, at, ring, at + window * width, width)


@njit(cache=True)
def _ring_to_obs(ring, i, slot, params, obs):
    """The W rows after `slot` (the newest is the mirror of `slot`) into obs row i."""
    window = int(params[WINDOW])
    width = int(params[WIDTH])
    size = window * width
    _copy(ring, (i * 2 * window + slot + 1) * width, obs, i * size, size)


@njit(cache=True)
def step_batch(state, bars, params, levels, features, actions, ring, slots, obs, codes, ended):
    """Every account one step; fills obs, codes [N] and ended[:returned count] (the
    accounts whose episode ended). Flat arrays: features [T * F], ring [N * 2W * (F + S)],
    obs [N * W * (F + S)]; slots [N] = ring slot of each account's current bar (kept here to
    avoid an integer modulo per step).

    Returns the number of finished episodes, or -1 - i when action i is invalid (then
    nothing has moved). `levels` empty = continuous actions (target exposures).
    """
    n = actions.shape[0]
    n_levels = levels.shape[0]
    window = int(params[WINDOW])
    taus = np.empty(n)
    for i in range(n):
        a = actions[i]
        if n_levels == 0:
            taus[i] = a
        elif a >= 0 and a < n_levels and a == math.floor(a):
            taus[i] = levels[int(a)]
        else:
            return -1 - i
    finished = 0
    for i in range(n):
        code = advance(state, i, bars, params, taus[i])
        codes[i] = code
        if code != 0:
            ended[finished] = i
            finished += 1
        slot = slots[i] + 1
        if slot == window:
            slot = 0
        slots[i] = slot
        _ring_push(ring, i, slot, int(state[i, BAR]), features, state, bars, params, False)
        _ring_to_obs(ring, i, slot, params, obs)
    return finished


@njit(cache=True)
def reset_batch(
    state, bars, params, features, ring, slots, obs, envs, starts, lasts, clear_outputs
):
    """Accounts `envs` flat at `starts`; their rings and observations refilled (flat)."""
    window = int(params[WINDOW])
    for k in range(envs.shape[0]):
        i = envs[k]
        start = starts[k]
        reset_account(state, i, params, start, lasts[k], clear_outputs)
        for slot in range(window - 1):
            bar = start - window + 1 + slot
            _ring_push(ring, i, slot, bar, features, state, bars, params, True)
        _ring_push(ring, i, window - 1, start, features, state, bars, params, False)
        slots[i] = window - 1
        _ring_to_obs(ring, i, window - 1, params, obs)
