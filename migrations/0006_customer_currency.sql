-- 0006_customer_currency: each customer of a vendor pays in one currency.
--
-- A reputation's money (credit used against its limit, the totals paid and
-- suggested) is a sum of minor units, and minor units of two currencies do
-- not add. So a customer's currency is fixed by the first offer made to
-- them, and an offer in another currency is refused (docs/protocol-notes.md,
-- "Currencies"). Score, tier and fairness are ratios and know no currency.
-- NULL: no offer yet.
ALTER TABLE reputations ADD COLUMN currency text NULL CHECK (currency ~ '^[A-Z]{3}$');

-- Customers from before: the currency of their first offer.
UPDATE reputations r
SET currency = (SELECT o.currency FROM offers o
		WHERE o.vendor_id = r.vendor_id AND o.customer_id = r.customer_id
		ORDER BY o.created_at, o.id LIMIT 1)
WHERE r.currency IS NULL;
