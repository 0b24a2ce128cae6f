"""The five KPIs by key, their titles and the article's benchmark figures."""

from __future__ import annotations

KPIS = ("K1", "K2", "K3", "K4", "K5")
KPI_TITLES = {
    "K1": "Contact/reach ratio",
    "K2": "Lead response time",
    "K3": "Follow-up",
    "K4": "Marketing content use",
    "K5": "Opportunity-win ratio",
}

# The article's benchmark figures.
BENCHMARK_PROSPECTS_PER_1000_CALLS = 350
BENCHMARK_OPPORTUNITIES_PER_1000_CALLS = 30
BENCHMARK_RESPONSE_MINUTES = 60
BENCHMARK_MARKET_MEAN_RESPONSE_HOURS = 42
BENCHMARK_SALES_AT_FIRST_CONTACT = 0.02
BENCHMARK_MIN_ATTEMPTS = 5
BENCHMARKS: dict[str, str] = {
    "K1": "350 prospects and 30 opportunities per 1,000 calls",
    "K2": "within 1 hour (market average 42 hours)",
    "K3": "2 % of sales at the first contact; at least 5 attempts",
    "K4": "",
    "K5": "",
}
