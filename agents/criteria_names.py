"""The names designation criteria use: the firm metrics a rule can name and the designated tiers.

Kept apart from agents/government.py (a Mesa agent) so that the configuration layer, which checks criteria files
against these names, imports neither Mesa nor the firms' compiled rules: a command that stops at a mistake in its
config answers without them.
"""

from __future__ import annotations

from agents.codes import DESIGNATED

# Criteria metrics: what firm_metrics computes for every row; criteria rules name them (conf/criteria/*.yaml)
METRICS = {
    "revenue_myuan": "revenue of the last four quarters, M yuan",
    "employees": "headcount",
    "rd_intensity": "R&D / revenue over the last four quarters",
    "rd_intensity_2y": "R&D / revenue over the last eight quarters",
    "rd_myuan": "R&D of the last four quarters, M yuan",
    "rd_myuan_2y": "R&D of the last eight quarters, M yuan",
    "revenue_growth": "revenue of the last four quarters / the four before - 1",
    "profit_growth": "profit of the last four quarters over the four before - 1 (relative to |profit before|)",
    "revenue_growth_2y": "mean of the last two yearly revenue growth rates (revenue_growth and the year before's; that alone if unknown)",
    "profit_growth_2y": "mean of the last two yearly profit growth rates (profit_growth and the year before's; that alone if unknown)",
    "debt_ratio": "debt / (cash + book assets + construction in progress + working capital)",
    "years_in_niche": "years since the firm entered its stage",
    "invention_patents": "class I (invention) patents in force; self-developed: the model's patents come from the firm's own R&D",
    "utility_patents": "utility and design patents in force (class II IP)",
    "niche_share": "the firm's share of its niche: capacity / (bloc capacity at its stage / niches_per_stage)",
    "rd_staff_share": "share of staff in R&D",
    "equity_raised_myuan": "outside equity raised since entry, M yuan",
    "equity_raised_3y_myuan": "outside equity raised in the last three years, M yuan: since the government's round three years "
    "before (by firm id), all since entry where it holds no record (a younger firm, or a government in office under three years)",
    "main_business_share": "main-business revenue / total revenue: 1.0 (the model's firms make one product, their stage's or niche's)",
    "strategic_emerging_field": "1 where the firm's stage (sector) is in the Strategic Emerging Industries Classification (NBS 2018), "
    "else 0 (designation.strategic_emerging_stages; national world: the sectors' strategic_emerging)",
}
TIERS = tuple(t.label for t in DESIGNATED)  # the designated tiers as config names them: innovation_type, srdi, little_giant
