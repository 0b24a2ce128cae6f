"""Pure KPI engine: the sales KPIs of the spec computed over plain rows, with no I/O.

`rows` (inputs), `config` (the configurable items), `periods` (days and months in a time zone), `content` (D7),
`contact` (per-contact values D1-D7 and the twelve `kpi_*` properties), `facts` (per-engagement and per-deal
facts), `scopes` (aggregate keys and roll-up), `reach` K1, `response` K2, `followup` K3, `marketing` K4,
`winrate` K5, `aggregate` (all of them, benchmarks, affected keys), `report` and `chart`.
"""
