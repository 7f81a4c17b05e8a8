"""Carry backtest: what a delta-neutral funding position per pair would have earned (pure pandas).

`rules` turns stored windows (and verdicts) into trades (entry and exit times), `pnl` prices each
trade from the settlements each leg actually paid, fees, slippage and the marks, `metrics` sums a
run up, `store` reads the inputs and writes the results, `chart` draws the equity curve.
"""
