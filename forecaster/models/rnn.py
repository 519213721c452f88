"""Build the Keras network: ``Input(window, 1) → recurrent stack → Dense(horizon)``.

Kept apart from the forecaster (:mod:`forecaster.models.neural`) that owns the data and the
training loop: this module only turns a few hyper-parameters into a model.  Every layer is
a stock Keras layer or the registered :class:`~forecaster.models.cells.TanhCell`, so the
saved model reloads with ``safe_mode=True``.
"""

from __future__ import annotations

import keras

from forecaster.choices import ANCHORS, MODEL_KINDS as KINDS


def recurrent_layer(kind: str, units: int, *, return_sequences: bool, seed: int, name: str):
    """One recurrent layer of the requested kind."""
    init = dict(
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1),
    )
    if kind == "simple_rnn":
        return keras.layers.SimpleRNN(units, return_sequences=return_sequences, name=name, **init)
    if kind == "lstm":
        return keras.layers.LSTM(units, return_sequences=return_sequences, name=name, **init)
    if kind == "gru":
        return keras.layers.GRU(units, return_sequences=return_sequences, name=name, **init)
    if kind == "tanh_cell":
        from forecaster.models.cells import build_tanh_rnn

        return build_tanh_rnn(units, return_sequences=return_sequences, name=name, seed=seed)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}. Got {kind!r}.")


def seasonal_anchor(inputs, *, season: int, horizon: int, name: str):
    """The last ``season`` input steps repeated over ``horizon`` steps, ``(batch, horizon)``:
    the seasonal-naive forecast of a (level-relative) window, from stock layers only
    (``Cropping1D``, ``Concatenate``, ``Flatten``), so a saved model stays safe to load."""
    T = int(inputs.shape[1])
    parts, need = [], horizon
    while need > 0:
        k = min(season, need)
        parts.append(keras.layers.Cropping1D((T - season, season - k),
                                             name=f"{name}_{len(parts)}")(inputs))
        need -= k
    seq = parts[0] if len(parts) == 1 else keras.layers.Concatenate(
        axis=1, name=f"{name}_tiled")(parts)
    return keras.layers.Flatten(name=f"{name}_flat")(seq)


def _member(kind, inputs, *, horizon, units, layers, seed, prefix="", season=0, known=None,
            hist=None):
    """One network: the recurrent stack and its dense multi-output head.  With ``season``
    the head's output is added to :func:`seasonal_anchor` (it learns a correction to the
    last season repeated); otherwise it is the change from the window's level.

    A covariate network passes ``known`` (the flattened rows ahead: the covariate head's
    input, :func:`_covariate_head`) and ``hist`` (its history rows, whose target channel
    the anchor reads)."""
    h = inputs
    for i in range(layers):
        h = recurrent_layer(kind, units, return_sequences=i < layers - 1, seed=seed + 10 * i,
                            name=f"{prefix}{kind}_{i + 1}")(h)
    out = keras.layers.Dense(
        horizon, name=f"{prefix}head",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 99))(h)
    if known is not None:
        out = keras.layers.Add(name=f"{prefix}with_covariates")(
            [out, _covariate_head(known, horizon=horizon, units=units, members=1, seed=seed,
                                  prefix=prefix)])
    if not season:
        return out
    if hist is not None:
        from forecaster.models.ensemble import SeasonalAnchor

        return SeasonalAnchor(int(season), horizon, [True], name=f"{prefix}anchored")(
            [hist, out])
    anchor = seasonal_anchor(inputs, season=season, horizon=horizon, name=f"{prefix}anchor")
    return keras.layers.Add(name=f"{prefix}anchored")([out, anchor])


def anchored_members(anchor: str, season: int | None, lookbacks, n_features: int = 1):
    """Which members forecast from the last season (True) rather than the level: all for
    ``"season"``, the odd ones for ``"mixed"`` (member 0 stays plain: the gradient
    diagnostic follows it), none for ``"level"`` — and none without a season (> 1), with
    several input features (without a covariate layout), or where a member reads less
    than one season."""
    if anchor not in ANCHORS:
        raise ValueError(f"anchor must be one of {', '.join(ANCHORS)}. Got {anchor!r}.")
    m = int(season or 0)
    return [anchor != "level" and m > 1 and n_features == 1 and m <= L
            and (anchor == "season" or j % 2 == 1) for j, L in enumerate(lookbacks)]


def build_model(kind: str, *, window: int, horizon: int, units: int, layers: int = 1,
                n_features: int = 1, seed: int = 0) -> keras.Model:
    """An uncompiled model mapping ``(batch, window, n_features)`` to ``(batch, horizon)``."""
    return build_ensemble(kind, window=window, horizon=horizon, units=units, layers=layers,
                          n_features=n_features, seed=seed)[0]


def build_ensemble(kind: str, *, window: int, horizon: int, units: int, layers: int = 1,
                   n_features: int = 1, seed: int = 0, ensemble: int = 1, lookbacks=None,
                   season: int | None = None, anchor: str = "level", layout=None):
    """Uncompiled models mapping ``(batch, window, n_features)`` to forecasts.

    Returns ``(model, training_model, members)``: ``model`` outputs ``(batch, horizon)``,
    the mean of ``ensemble`` independently initialised networks (seeds ``seed + 1000 j``);
    ``training_model`` shares its layers and outputs the members side by side
    ``(batch, ensemble · horizon)``, so that fitting it on targets tiled ``ensemble`` times
    trains every member on its own error (the loss is the mean of the members' losses, and
    no member sees another's gradient); ``members`` are the single networks as linear
    models (for the gradient diagnostic).  With ``ensemble=1`` all three are one model.

    ``lookbacks`` (one per member, each ``<= window``; default: all ``window``): member ``j``
    reads only the last ``lookbacks[j]`` steps of the input (a stock ``Cropping1D``), so
    members see different spans of history (see :func:`forecaster.models.neural.Shape`).
    ``anchor`` with ``season``: which members add their output to the last season repeated
    (:func:`anchored_members`).

    ``layout`` (a :class:`~forecaster.data.covariates.FeatureLayout`) builds the covariate
    network instead: its input is ``(batch, window + ahead, channels)`` — ``window`` history
    rows ``[target, past…, known…, static…]`` that the recurrent stack reads, then
    ``ahead`` (the horizon, when anything is known ahead) rows whose known and static
    channels reach each member's head through a small tanh layer of its own
    (:func:`_covariate_head`); the seasonal anchor reads the target channel.
    """
    if ensemble < 1:
        raise ValueError(f"ensemble must be >= 1. Got {ensemble}.")
    lookbacks = [int(window)] * ensemble if lookbacks is None else [int(v) for v in lookbacks]
    if len(lookbacks) != ensemble or not all(1 <= v <= window for v in lookbacks):
        raise ValueError(f"lookbacks must be {ensemble} integers between 1 and the window "
                         f"{window}. Got {lookbacks}.")
    if layout is not None:
        return _covariate_ensemble(kind, layout, window=window, horizon=horizon, units=units,
                                   layers=layers, seed=seed, lookbacks=lookbacks,
                                   season=season, anchor=anchor)
    inputs = keras.Input(shape=(window, n_features), name="window")

    def view(j):
        if lookbacks[j] == window:
            return inputs
        return keras.layers.Cropping1D((window - lookbacks[j], 0),
                                       name=f"m{j}_lookback" if j else "lookback")(inputs)

    seasonal = anchored_members(anchor, season, lookbacks, n_features)
    if kind == "tanh_cell" and ensemble > 1:
        return _wide_ensemble(inputs, horizon=horizon, units=units, layers=layers, seed=seed,
                              lookbacks=lookbacks, season=season, anchored=seasonal)
    outs = [_member(kind, view(j), horizon=horizon, units=units, layers=layers,
                    seed=seed + 1000 * j, prefix=f"m{j}_" if j else "",
                    season=int(season) if seasonal[j] else 0)
            for j in range(ensemble)]
    return _assembled(inputs, outs, kind, ensemble)


def _assembled(inputs, outs, kind, ensemble):
    """``(model, training_model, members)`` from the members' output tensors."""
    if ensemble == 1:
        model = keras.Model(inputs, outs[0], name=f"forecaster_{kind}")
        return model, model, [model]
    model = keras.Model(inputs, keras.layers.Average(name="ensemble")(outs),
                        name=f"forecaster_{kind}_x{ensemble}")
    training = keras.Model(inputs, keras.layers.Concatenate(name="members")(outs),
                           name=f"forecaster_{kind}_members")
    members = [keras.Model(inputs, o, name=f"member_{j}") for j, o in enumerate(outs)]
    return model, training, members


def _covariate_ensemble(kind, layout, *, window, horizon, units, layers, seed, lookbacks,
                        season, anchor):
    """The network of :func:`build_ensemble` with covariates (its ``layout``)."""
    from forecaster.models.ensemble import Channels

    k, ahead = len(lookbacks), horizon if layout.horizon_rows else 0
    inputs = keras.Input(shape=(window + ahead, layout.channels), name="window")
    hist = keras.layers.Cropping1D((0, ahead), name="history")(inputs) if ahead else inputs
    known = None
    if ahead:
        rows = keras.layers.Cropping1D((window, 0), name="ahead_rows")(inputs)
        known = keras.layers.Flatten(name="ahead")(
            Channels(layout.first_ahead, layout.channels, name="known")(rows))
    anchored = anchored_members(anchor, season, lookbacks)
    if kind == "tanh_cell" and k > 1:
        model, training, _ = _wide_ensemble(inputs, horizon=horizon, units=units,
                                            layers=layers, seed=seed, lookbacks=lookbacks,
                                            season=season, anchored=anchored, hist=hist,
                                            known=known)
        return model, training, [model]
    outs = [_member(kind, hist if lookbacks[j] == window else keras.layers.Cropping1D(
                        (window - lookbacks[j], 0), name=f"m{j}_lookback" if j else "lookback")(
                        hist),
                    horizon=horizon, units=units, layers=layers, seed=seed + 1000 * j,
                    prefix=f"m{j}_" if j else "", season=int(season) if anchored[j] else 0,
                    known=known, hist=hist)
            for j in range(k)]
    model, training, _ = _assembled(inputs, outs, kind, k)
    return model, training, [model]


def _covariate_head(known, *, horizon, units, members, seed, prefix):
    """What the values known over the horizon add to each member's forecast:
    ``Dense(units, tanh) → Dense(horizon)`` per member (block-diagonal for a wide
    ensemble, so members stay independent): ``(batch, members · horizon)``.  Additive, so a
    covariate's effect on a step can depend on every known value (the hour and the holiday
    of that step together) but not on the history's state."""
    from forecaster.models.ensemble import MemberDense

    hidden = keras.layers.Dense(
        units * members, activation="tanh", name=f"{prefix}covariates_hidden",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 77))(known)
    return MemberDense(horizon, members, seed=seed + 55, name=f"{prefix}covariates_out")(hidden)


def _wide_ensemble(inputs, *, horizon, units, layers, seed, lookbacks, season, anchored,
                   hist=None, known=None):
    """The tanh-cell ensemble as one wide network (:mod:`forecaster.models.ensemble`):
    each recurrent layer and the head compute every member at once, member ``j`` reading
    its last ``lookbacks[j]`` steps.  Same members, same initial weights and the same
    ``(model, training_model, members)`` as the layer-per-member ensemble, in a graph
    about ``k`` times smaller.  A covariate network passes its history rows ``hist`` (what
    the recurrent layers and the anchor read) and ``known`` (the covariate heads' input)."""
    from forecaster.models.ensemble import (EnsembleTanhCell, EnsembleTanhRNN, MemberDense,
                                            MemberMean, SeasonalAnchor)

    k = len(lookbacks)
    hist = inputs if hist is None else hist
    h = hist
    for i in range(layers):
        cell = EnsembleTanhCell(units, k, split_inputs=i > 0, seed=seed + 10 * i,
                                name=f"members_cell_{i + 1}")
        h = EnsembleTanhRNN(cell, lookbacks=lookbacks, return_sequences=i < layers - 1,
                            name=f"members_tanh_cell_{i + 1}")(h)
    out = MemberDense(horizon, k, seed=seed, name="members_head")(h)
    if known is not None:
        out = keras.layers.Add(name="members_with_covariates")(
            [out, _covariate_head(known, horizon=horizon, units=units, members=k, seed=seed,
                                  prefix="members_")])
    if any(anchored):
        out = SeasonalAnchor(int(season), horizon, anchored, name="members_anchored")(
            [hist, out])
    training = keras.Model(inputs, out, name=f"forecaster_tanh_cell_{k}_members")
    model = keras.Model(inputs, MemberMean(k, name="ensemble")(out),
                        name=f"forecaster_tanh_cell_x{k}")
    split = keras.layers.Reshape((k, horizon), name="by_member")(out)
    members = [keras.Model(inputs, keras.layers.Flatten(name=f"member_{j}_out")(
        keras.layers.Cropping1D((j, k - 1 - j), name=f"member_{j}_slice")(split)),
        name=f"member_{j}") for j in range(k)]
    return model, training, members


def member_network(model, j: int = 0) -> keras.Model:
    """Member ``j`` of a wide tanh-cell ensemble as a stand-alone network
    ``Input(lookback, 1) → TanhRNN … → Dense(horizon)`` holding that member's weights — the
    linear stack the gradient diagnostic follows.  A plain (not anchored) member only."""
    from forecaster.models.ensemble import (EnsembleTanhRNN, MemberDense, SeasonalAnchor,
                                            member_weights)

    rnns = [layer for layer in model.layers if isinstance(layer, EnsembleTanhRNN)]
    head = next(layer for layer in model.layers if isinstance(layer, MemberDense))
    anchor = [layer for layer in model.layers if isinstance(layer, SeasonalAnchor)]
    if not rnns or (anchor and anchor[0].anchored[j]):
        raise ValueError(f"member {j} must be a plain member of a wide tanh-cell ensemble.")
    window = int(model.input_shape[1])
    lookback = window if rnns[0].lookbacks is None else rnns[0].lookbacks[j]
    single = build_ensemble("tanh_cell", window=window, horizon=head.horizon,
                            units=rnns[0].cell.units, layers=len(rnns),
                            n_features=int(model.input_shape[-1]), lookbacks=[lookback])[0]
    single.set_weights(member_weights(model, j))
    return single


def diagnostic_network(model, members) -> keras.Model | None:
    """The network the gradient diagnostic follows, as a linear stack: the first plain
    (not anchored) member extracted from a wide ensemble — None when every member is
    anchored on the last season (``--anchor season``) — or the first of ``members``."""
    from forecaster.models.ensemble import EnsembleTanhRNN, SeasonalAnchor

    if any(isinstance(layer, EnsembleTanhRNN) for layer in model.layers):
        anchor = [layer for layer in model.layers if isinstance(layer, SeasonalAnchor)]
        flags = anchor[0].anchored if anchor else [False]
        plain = [j for j, anchored in enumerate(flags) if not anchored]
        return member_network(model, plain[0]) if plain else None
    return members[0]
