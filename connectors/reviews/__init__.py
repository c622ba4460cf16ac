"""Review sources: product pages (schema_org, html), review platforms (trustpilot, appstore), shop APIs (woocommerce)."""
