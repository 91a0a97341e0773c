"""The cost panel's defaults are neutral: an embedded index pays no vector-database fee unless the user says so."""
from workbench.evaluation.cost import Measured, Prices, assumptions, costs
from workbench.evaluation.metrics import SetupSummary


def _summ(**kw) -> SetupSummary:
    base = dict(n=10, expected=10, correct=None, usable=None, fact_correct=None, exact=None, f1=None, contains=None,
                format_ok=None, source_retrieved=None, gold_retrieved=None, abstention=None, false_abstention=None,
                latency_s=1.0, latency_p50_s=1.0, prompt_tokens=100.0, completion_tokens=20.0)
    return SetupSummary(**{**base, **kw})


def test_default_prices_charge_no_vector_database_for_an_embedded_index():
    s = {"base": _summ(setup="base"), "rag": _summ(setup="rag", prompt_tokens=600.0)}
    base, rag = costs(s, Prices(), Measured(index_bytes=80_000, index_chunks=40))
    assert rag.fixed_year_usd == 0.0 and base.fixed_year_usd == 0.0
    said = " ".join(assumptions(Prices(), Measured(index_bytes=80_000)))
    assert "no vector-database fee" in said and "0.08 MB" in said
    # A user who runs a managed database enters its price, and it is charged and stated.
    managed = Prices(vector_db_per_month=25.0)
    assert costs(s, managed, Measured())[1].fixed_year_usd == 300.0
    assert "$25 per month" in " ".join(assumptions(managed, Measured()))
