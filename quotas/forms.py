from django import forms

from quotas.models import Plan


class PlanForm(forms.Form):
    """A plan as a merchant edits it; the service checks the same limits again."""

    name = forms.CharField(max_length=80, label="Name", help_text="Shown to your team only, e.g. “Pro”.")
    monthly_try_ons = forms.IntegerField(
        min_value=1, max_value=1_000_000, label="Try-ons per period", help_text="Per customer, per 30-day period."
    )
    external_price_id = forms.CharField(
        max_length=200,
        required=False,
        label="External price id",
        help_text="Optional: the price in your billing system (e.g. a Stripe price id).",
    )

    @classmethod
    def of(cls, plan: Plan) -> "PlanForm":
        return cls(
            initial={
                "name": plan.name,
                "monthly_try_ons": plan.monthly_try_ons,
                "external_price_id": plan.external_price_id,
            }
        )
