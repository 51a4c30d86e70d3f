"""ActiveCampaign list hygiene on Dagster."""
