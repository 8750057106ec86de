"""The thermal and battery budget: how much compute the car can spare right now.

Entry points: `thermal.budget.Budget` (the synchronous core), `thermal.service.BudgetService`
(the trio service the daemon runs), `thermal.config.BudgetConfig` (the ``[budget]`` section),
`thermal.preferences` and `thermal.prefstore` (the owner's preferences). See docs/budget.md.
"""
