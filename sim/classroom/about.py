"""About this model: the dashboard's info panel, in the sections of NetLogo's Info tab, written for students.

Every statement is one the model makes (docs/ODD.md, the model as built; MODEL.md, the domain specification);
the sources are those the configuration and conf/validation/targets.yaml name.
"""

from __future__ import annotations

SECTIONS = (
    "WHAT IS IT?",
    "HOW IT WORKS",
    "HOW TO USE IT",
    "THINGS TO NOTICE",
    "THINGS TO TRY",
    "EXTENDING THE MODEL",
    "CREDITS AND REFERENCES",
)

ABOUT = """
## WHAT IS IT?

A simulation of how the world makes rare-earth magnets, the small, strong magnets inside electric cars, wind
turbines, industrial motors and weapons. A magnet passes through four stages: **mining** (rare-earth concentrate),
**separation** into oxides (NdPr oxide), reduction to **metal**, and **magnet** making. Three blocs make and buy
them: **China**, the **West** (the United States, the European Union, Australia and Japan) and the **rest of the
world** (among others Myanmar's and Laos's ore, the Lynas separation plant in Malaysia, India and Russia).

The model compares two ways of building such a chain. China runs a coordinated policy: a government plans which
stages are short and awards titles to specialised small firms, from innovation-type SMEs through provincial
SRDI firms ("specialised, refined, differentiated and innovative") to national **Little Giants** and key Little
Giants, and state-owned groups incubate, fund and rescue their subsidiaries. The West funds the same chain through
several separate agencies, with slow permits and cautious private capital. The question is how many years each
bloc needs to stand up each stage, what that costs, and what a shock such as an export control does.

## HOW IT WORKS

One step is one quarter of a year; a run starts in 2015 and lasts 30 years (120 quarters). The agents are
**firms** (each a mine or a plant at one stage, in one region of a bloc), **buyers** of magnets (electric
vehicles, wind, industry and defence in each bloc), and, depending on the policy, a **government** with its
designation tiers, **state-owned groups**, or **funding agencies**.

Every quarter each stage has a market in each bloc. Firms offer what their plants can make; buyers, and the next
stage down the chain, choose suppliers by price (including freight and tariffs between blocs), quality and
preferences such as state procurement. Each bloc's price moves with the balance of supply and demand. Firms pay
their costs, spend on R&D, learn (costs fall as output accumulates) and patent; they decide whether to build new
plants, which take years to plan, permit, build, ramp up and, for magnets, get qualified by buyers. A firm that
stays insolvent leaves (its plants may be sold to another firm), unless its group rescues it.

Once a year the Chinese government reviews firms against published criteria (R&D intensity, patents, growth,
debt, years in their niche, size) and awards or withdraws titles; a title brings grants, tax relief, cheaper
credit and a procurement preference, and is reviewed every three years. Western agencies run yearly calls and
pay part of a project's cost after a delay. A scenario adds events, such as China's export controls on
separated oxides, metal and magnets. A bloc counts as **independent** at a stage once its own plants can cover
at least half of its magnet needs at that stage (in magnet-equivalent tonnes) for a full year.

## HOW TO USE IT

1. Pick a **teaching preset** on the left: it sets a scenario, shows its lesson and puts the two panels the
   lesson talks about beside it.
2. Press **▶** to play, **❚❚** to pause, **Step** for one quarter or **Step one year** for four. **Reset** goes back
   to 2015 with the same levers.
3. Move a **lever** (grants, procurement preference, tax relief, credit, knowledge sharing in groups, Western
   agencies and their coordination, permitting time, a price floor and offtake, the export control and its start
   year). The model is rebuilt from 2015 with the new setting when you let go of the slider. **Back to the
   preset** undoes your changes.
4. The **seed** fixes the run's random draws: the same seed and levers give the same run. Change it to see how much
   of what you see is chance.
5. Under a preset, tick **Dashed: this seed without ...** to draw, under the run, the same seed with the lesson's
   change (without the export control, without the tiers, with permitting twice as fast) as faint dashed lines over
   the whole run, in the colour of each line, on the same axes; in the timeline as hollow stars ☆. It is computed in
   the background, so the run keeps stepping meanwhile. Under the panels, **Compare seeds** runs the lesson's figure with and
   without the change for five seeds and says whether the difference is larger than the differences between seeds.
6. Under the panels, the same run is written as a command line (`python -m sim ...`), so a run seen in class can be
   repeated and analysed outside it.

## THINGS TO NOTICE

- In the **chain**, which boxes turn green first, and where material crosses between blocs. A Western mine can
  dig, but while there is no Western separation plant its ore goes abroad to be processed.
- In the **timeline**, how long a stage takes from the first output of a new plant (▲) to independence (★), and
  that a magnet needs all four rows, not one.
- In the **prices**, what happens to each bloc's price after an export control starts: the same plants keep
  running, but who may buy changes, and the prices of the blocs drift apart.
- In the **pyramid**, titles are not permanent: firms that stop meeting the criteria lose them at review.

## THINGS TO TRY

- Run the same seed with China's policy set to `coordinated_without_tiers`, then `none`: what do the tiers add?
- Let the Western agencies coordinate (one pooled fund aimed at the missing stages) and shorten permitting time.
  Which Western stage becomes independent first, and when?
- Move the export control's start year earlier or later, or switch it off. How long do the price gaps last?
- Give the West a price floor for NdPr oxide and a magnet offtake, as in the 2025 US agreement with MP Materials,
  and watch which rows of the timeline start to fill.
- Try three seeds with the same levers. Which differences between runs are larger than the differences between
  seeds?

## EXTENDING THE MODEL

Every number the model uses is in the configuration files (conf/): stages, blocs and regions, costs, plant
durations, designation criteria and benefits, agencies and scenarios; each says where it comes from or that it is
an assumption. A new scenario is a small file in conf/scenario/; a new lever is an entry in the dashboard's lever
table. The model is partly calibrated: `python -m sim.validate` reports which of the public targets it meets, and
docs/ODD.md (the model as built, section 7.12) explains each target it still misses. Conclusions that rest on a
missed target are not yet supported. Some ideas to build on: other critical minerals, recycling of magnets, or a
Western policy that changes over time.

## CREDITS AND REFERENCES

little-giants is an open-source agent-based model in Python (Mesa for the agents, Hydra for the configuration,
Solara and ECharts for this page). It is documented in docs/ODD.md in the ODD protocol (Grimm et al. 2006, 2020),
after the domain specification MODEL.md.

Sources the model draws on, among others:

- MIIT (China's Ministry of Industry and Information Technology): the 2018 definition of specialised and
  innovative "Little Giant" firms and the 2022 Interim Measures for the tiered cultivation of high-quality SMEs (the
  tier criteria); the 2021 central notice on key Little Giants (about 10 billion yuan for about 1,000 firms).
- Baogang (Baotou Steel group) announcement, 2025: 22 innovation-type SMEs, 9 SRDI firms and 1 Little Giant in its
  portfolio (the group pyramid).
- The 2025 US Department of Defense agreement with MP Materials: a floor of 110 USD/kg of NdPr oxide for ten years
  and full offtake of a 10,000 t/yr magnet plant.
- The EU Critical Raw Materials Act: permits for strategic projects within 27 months for mines and 15 months
  for other projects.
- Articles on China's Little Giant rare-earth enterprises and Western rare-earth independence (the validation
  targets: number of Little Giants, their R&D intensity and patents, their financing difficulties, and Western
  timelines of 3-7, 5-10 and 7-15 years for mining, processing and magnets under a coordinated effort).
- Published difference-in-differences studies of the SRDI and Little Giant designation (effects on innovation and
  financing).

The full list, with every number's source, is in conf/validation/targets.yaml, the configuration files and
docs/ODD.md (section 9, the parameter table).
"""
