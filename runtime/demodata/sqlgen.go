package demodata

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"
)

// gen renders the set-based SQL of one generation. Every random choice is
// `hash(<row key>, K)` mapped to [0,1), where K is a 64-bit FNV hash of the
// seed and the purpose ("city", "amount", ...): deterministic for a seed,
// independent across purposes, and computed by DuckDB in parallel.
//
// The SQL templates use these tokens (see expand):
//
//	{now}     the generation clock as a TIMESTAMP literal
//	{today}   midnight of {now}'s day
//	@u{key}   uniform [0,1) per member          (row key: i)
//	@uj{key}  uniform [0,1) per member and j    (row key: i, j; j = purchase index)
//	@ub{key}  uniform [0,1) per member and b    (row key: i, b; b = browse/message index)
//	@n{key}, @nj{key}  standard normal draws (Box-Muller) with the same keys
//	@h{key}   the raw UBIGINT hash per member
type gen struct {
	seed int64
	now  time.Time
}

// Personas: slot i % 1000 of every block of 1000 members is reserved for the
// business cases of SPEC §1, so any run with at least 1000 members has each
// case; the rest ("regular") follow the population figures.
//
//	slot  0-1   store_a     queued or booked at store A in the 24 hours before now
//	slot  2     spike       3-5 purchases in a narrow band, then one > 1.5x avg in the last 20 hours
//	slot  3-14  new_buyer   exactly one purchase, 1-75 days ago (win-back ladder)
//	slot 15-16  unpaid      an order placed 2.5-20 hours before now, never paid
//	slot 17     birthday    born on now's month and day
//	slot 18-22  gold_loyal  gold tier, 4-8 purchases in the last year, >= 520 CNY
//	slot 23     toothbrush  bought TB-10PK 331-340 days ago, not since
//	slot 24-25  changsha    lives in 长沙, visited a store in the last 85 days
//
// Persona slots are acme members except in every fifth block of 1000, where
// they are bistro members (so both brands have every case; acme first).
const personaSlots = 26

const personaCase = `CASE
      WHEN i % 1000 < 2  THEN 'store_a'
      WHEN i % 1000 < 3  THEN 'spike'
      WHEN i % 1000 < 15 THEN 'new_buyer'
      WHEN i % 1000 < 17 THEN 'unpaid'
      WHEN i % 1000 < 18 THEN 'birthday'
      WHEN i % 1000 < 23 THEN 'gold_loyal'
      WHEN i % 1000 < 24 THEN 'toothbrush'
      WHEN i % 1000 < 26 THEN 'changsha'
      ELSE 'regular' END`

func (g gen) expand(tmpl string) string {
	nowLit := "TIMESTAMP '" + g.now.Format("2006-01-02 15:04:05") + "'"
	s := strings.NewReplacer(
		"{now}", nowLit,
		"{today}", "CAST(CAST("+nowLit+" AS DATE) AS TIMESTAMP)",
		"{personaSlots}", fmt.Sprint(personaSlots),
	).Replace(tmpl)
	keys := map[string]string{"": "i", "j": "i, j", "b": "i, b"}
	re := regexp.MustCompile(`@([unh])(j|b)?\{(\w+)\}`)
	return re.ReplaceAllStringFunc(s, func(tok string) string {
		m := re.FindStringSubmatch(tok)
		kind, cols, key := m[1], keys[m[2]], m[3]
		// One BIGINT per (seed, purpose): hashing two or three integers is
		// much cheaper than hashing a string per row.
		h := func(k string) string {
			f := fnv.New64a()
			fmt.Fprintf(f, "%d/%s", g.seed, k)
			return fmt.Sprintf("hash(%s, %d::BIGINT)", cols, int64(f.Sum64()>>1))
		}
		switch kind {
		case "h":
			return h(key)
		case "u":
			return fmt.Sprintf("((%s %% 1000003) / 1000003.0)", h(key))
		}
		// n: Box-Muller: sqrt(-2 ln u1) cos(2 pi u2), u1 in (0,1].
		return fmt.Sprintf("(sqrt(-2 * ln(((%s %% 1000003) + 1) / 1000003.0)) * cos(2 * pi() * ((%s %% 1000003) / 1000003.0)))",
			h(key+".1"), h(key+".2"))
	})
}

// lognormal is an order amount in CNY: exp(mu + 0.6 z) with mu = ln 71 -
// 0.6^2/2, a mean of 71 that the big spenders among the personas lift to an
// overall average order of about 73.
const lognormal = "greatest(5.0, exp(4.0825 + 0.6 * %s))"

// memberPlanSQL builds _demo_m: one row per member of [lo, hi) with the
// persona, brand, home city and store, number of purchases k, and the day
// offsets (days before today) of signup, first and last purchase.
func (g gen) memberPlanSQL(lo, hi int64) string {
	cs := cities()
	var cityCase strings.Builder
	cum := 0.0
	for idx, c := range cs[:len(cs)-1] {
		cum += c.weight
		fmt.Fprintf(&cityCase, " WHEN u_city < %.4f THEN %d", cum, idx)
	}
	fmt.Fprintf(&cityCase, " ELSE %d", len(cs)-1)

	acme, bistro := stores(BrandAcme), stores(BrandBistro)
	homeStore := func(s storeSet) string {
		return fmt.Sprintf("CASE WHEN city_idx = 0 AND u_store < 0.5 THEN %s ELSE %s[city_idx + 1] END",
			sqlString(s.second), sqlList(s.primary))
	}

	return g.expand(fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE _demo_m AS
WITH a AS (
  SELECT i,
    'M' || lpad((i + 1)::VARCHAR, 8, '0') AS member_id,
    %[3]s AS persona,
    CASE WHEN i %% 1000 < {personaSlots}
         THEN CASE WHEN (i // 1000) %% 5 = 4 THEN 'bistro' ELSE 'acme' END
         WHEN @u{brand} < 0.8 THEN 'acme' ELSE 'bistro' END AS brand,
    @u{buyer} AS u_buyer, @u{k} AS u_k, @u{k2} AS u_k2, @u{dorm} AS u_dorm,
    @u{signup} AS u_signup, @u{last} AS u_last, @u{first} AS u_first,
    @u{city} AS u_city, @u{store} AS u_store, @u{band} AS u_band, @u{tb} AS u_tb
  FROM range(%[1]d, %[2]d) r(i)
), b AS (
  SELECT *,
    CASE WHEN persona IN ('changsha', 'store_a') THEN 0 ELSE CASE %[4]s END END AS city_idx,
    CASE persona
      WHEN 'spike'      THEN 3 + floor(u_k2 * 3)
      WHEN 'new_buyer'  THEN 1
      WHEN 'gold_loyal' THEN 4 + floor(u_k2 * 5)
      WHEN 'toothbrush' THEN CASE WHEN u_k < 0.6 THEN 0 WHEN u_k < 0.85 THEN 1 ELSE 2 END
      ELSE CASE WHEN u_buyer >= 0.9 THEN 0
                WHEN u_k < 0.64 THEN 1 WHEN u_k < 0.85 THEN 2 WHEN u_k < 0.95 THEN 3
                ELSE 4 + floor(u_k2 * 9) END
    END::BIGINT AS k,
    CASE persona
      WHEN 'spike'      THEN 320 + floor(u_signup * 700)
      WHEN 'gold_loyal' THEN 370 + floor(u_signup * 720)
      WHEN 'toothbrush' THEN 345 + floor(u_signup * 750)
      WHEN 'new_buyer'  THEN 2 + floor(u_last * 75) + floor(u_signup * 60)
      ELSE 2 + floor(u_signup * 1094)
    END::INTEGER AS signup_days,
    331 + floor(u_tb * 10)::INTEGER AS tb_off,
    40 + u_band * 50 AS band_lo
  FROM a
), c AS (
  SELECT *,
    (k > 0 AND persona NOT IN ('spike', 'new_buyer', 'gold_loyal')
       AND signup_days >= 400 AND u_dorm < 0.68) AS dormant
  FROM b
), d AS (
  SELECT *,
    CASE WHEN k = 0 THEN NULL
      WHEN persona = 'spike'      THEN 5 + floor(u_last * 60)
      WHEN persona = 'gold_loyal' THEN 1 + floor(u_last * 60)
      WHEN persona = 'new_buyer'  THEN 1 + floor(u_last * 75)
      WHEN dormant THEN 367 + floor(u_last * (signup_days - 367))
      ELSE 1 + floor(u_last * least(365, signup_days))
    END::INTEGER AS last_off
  FROM c
)
SELECT *,
  CASE WHEN k = 0 THEN NULL
    WHEN k = 1 THEN last_off
    WHEN persona = 'spike'      THEN 200 + floor(u_first * 100)
    WHEN persona = 'gold_loyal' THEN 200 + floor(u_first * 160)
    ELSE last_off + floor(u_first * (signup_days - last_off + 1))
  END::INTEGER AS first_off,
  CASE WHEN brand = 'acme' THEN %[5]s ELSE %[6]s END AS home_store
FROM d`, lo, hi, personaCase, cityCase.String(), homeStore(acme), homeStore(bistro)))
}

// membersSQL inserts the members of _demo_m.
func (g gen) membersSQL() string {
	cs := cities()
	names, regions := make([]string, len(cs)), make([]string, len(cs))
	for i, c := range cs {
		names[i], regions[i] = c.name, c.region
	}
	emailDomains := []string{"qq.com", "163.com", "126.com", "sina.com", "gmail.com"}
	sources := []string{"tmall", "store", "wechat", "app"}
	return g.expand(fmt.Sprintf(`
INSERT INTO members
SELECT member_id, brand,
  %[1]s || CASE WHEN female THEN %[2]s ELSE %[3]s END AS name,
  '1' || %[4]s || lpad((@h{phone} %% 1000000000)::VARCHAR, 9, '0') AS phone,
  CASE WHEN @u{email} < 0.7 THEN 'm' || (i + 1) || '@' || %[5]s END AS email,
  CASE WHEN persona = 'birthday'
         THEN make_date(1980 + 4 * floor(@u{byear} * 6)::INTEGER, month({now}), day({now}))
       WHEN @u{bday} < 0.92 THEN DATE '1965-01-01' + floor(@u{bday2} * 14600)::INTEGER
  END AS birthday,
  CASE WHEN female THEN 'F' ELSE 'M' END AS gender,
  %[6]s[city_idx + 1] AS city,
  %[7]s[city_idx + 1] AS region,
  CASE WHEN persona = 'gold_loyal' THEN 'gold'
       WHEN @u{tier} < gold_p THEN 'gold'
       WHEN @u{tier} < gold_p + 0.25 THEN 'silver'
       ELSE 'bronze' END AS tier,
  %[8]s AS occupation,
  {today} - to_days(signup_days) + to_seconds(25200 + floor(@u{signup_tod} * 3600)::INTEGER) AS signup_at,
  @u{c_sms} < 0.70 AS consent_sms,
  CASE WHEN @u{c_email} < 0.30 THEN true WHEN @u{c_email} < 0.40 THEN NULL ELSE false END AS consent_email,
  @u{c_push} < 0.40 AS consent_app_push,
  @u{c_wechat} < 0.50 AS consent_wechat,
  @u{c_phone} < CASE WHEN persona = 'gold_loyal' THEN 0.6 ELSE 0.2 END AS consent_phone,
  json_object('source', %[9]s, 'points', floor(@u{points} * 5000)::INTEGER) AS attrs
FROM (
  SELECT *, @u{gender} < 0.55 AS female,
    CASE WHEN k >= 4 THEN 0.40 WHEN k = 3 THEN 0.15 ELSE 0.03 END AS gold_p
  FROM _demo_m
)`,
		pick(surnames(), "@u{surname}"),
		pick(givenNames(true), "@u{given}"),
		pick(givenNames(false), "@u{given}"),
		pick([]string{"3", "5", "7", "8", "9"}, "@u{phone_prefix}"),
		pick(emailDomains, "@u{email_domain}"),
		sqlList(names), sqlList(regions),
		pick(occupations(), "@u{occupation}"),
		pick(sources, "@u{source}")))
}

// purchasesSQL builds _demo_p: one row per purchase (completed order), with
// its day offset, timestamp, online/store, SKU and amount. The spike and the
// toothbrush personas get one extra purchase each.
func (g gen) purchasesSQL() string {
	acmeP, bistroP := products(BrandAcme), products(BrandBistro)
	noTB := without(acmeP, ToothbrushSKU)
	skuExpr := func(col func([]product) []string) string {
		return fmt.Sprintf(`CASE WHEN brand = 'acme' THEN
        CASE WHEN persona = 'toothbrush' THEN %s ELSE %s END
      ELSE %s END`,
			pick(col(noTB), "@uj{sku}"), pick(col(acmeP), "@uj{sku}"), pick(col(bistroP), "@uj{sku}"))
	}
	allStores := brandPick("brand", stores(BrandAcme).all(), stores(BrandBistro).all(), "@uj{away_store}")
	return g.expand(fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE _demo_p AS
WITH p AS (
  SELECT i, member_id, brand, persona, k, signup_days, first_off, last_off, home_store, band_lo,
         unnest(range(k)) AS j
  FROM _demo_m WHERE k > 0
), q AS (
  SELECT *,
    CASE WHEN j = 0 THEN first_off WHEN j = k - 1 THEN last_off
         ELSE last_off + floor(@uj{mid} * (first_off - last_off + 1))::INTEGER END AS off,
    (persona = 'spike' OR @uj{online} < CASE WHEN brand = 'acme' THEN 0.6 ELSE 0.1 END) AS online
  FROM p
)
SELECT i, member_id, brand, j, off, signup_days,
  {today} - to_days(off) + to_seconds(36000 + floor(@uj{tod} * 43200)::INTEGER) AS ts,
  online,
  CASE WHEN online THEN NULL WHEN @uj{away} < 0.85 THEN home_store ELSE %[1]s END AS store,
  %[2]s AS sku,
  %[3]s AS category,
  round(CASE WHEN persona = 'spike' THEN band_lo * (1 + 0.1 * @uj{band})
             WHEN persona = 'gold_loyal' THEN 130 + %[4]s
             ELSE %[4]s END, 2)::DECIMAL(18,2) AS amount,
  'O' || (i + 1) || '-' || (j + 1) AS order_id
FROM q
UNION ALL
SELECT i, member_id, brand, k AS j, 0 AS off, signup_days,
  {now} - to_seconds(1800 + floor(@u{spike_t} * 68400)::INTEGER) AS ts,
  true AS online, NULL AS store,
  CASE WHEN brand = 'acme' THEN 'ETB-PRO' ELSE 'FROG-XL' END AS sku,
  CASE WHEN brand = 'acme' THEN 'device' ELSE 'signature' END AS category,
  round(band_lo * 1.1 * (1.8 + 1.2 * @u{spike_amt}), 2)::DECIMAL(18,2) AS amount,
  'O' || (i + 1) || '-' || (k + 1) AS order_id
FROM _demo_m WHERE persona = 'spike'
UNION ALL
SELECT i, member_id, brand, k AS j, tb_off AS off, signup_days,
  {today} - to_days(tb_off) + to_seconds(36000 + floor(@u{tb_tod} * 43200)::INTEGER) AS ts,
  true AS online, NULL AS store, '%[5]s' AS sku, 'oral_care' AS category,
  59.90::DECIMAL(18,2) AS amount,
  'O' || (i + 1) || '-' || (k + 1) AS order_id
FROM _demo_m WHERE persona = 'toothbrush' AND brand = 'acme'`,
		allStores, skuExpr(skus), skuExpr(categories), fmt.Sprintf(lognormal, "@nj{amount}"), ToothbrushSKU))
}

// eventsSQL inserts the events of the chunk starting at member lo, numbering
// them seq+1, seq+2, ... in member, time order.
func (g gen) eventsSQL(lo, seq int64) string {
	acmeP, bistroP := products(BrandAcme), products(BrandBistro)
	browseSku := brandPick("brand", skus(acmeP), skus(bistroP), "@ub{sku}")
	browseCat := brandPick("brand", categories(acmeP), categories(bistroP), "@ub{sku}")
	campaigns := []string{"d11-warmup", "618-recap", "new-arrivals", "member-day", "spring-festival"}
	unpaidSku := brandPick("brand", skus(acmeP), skus(bistroP), "@u{unpaid_sku}")
	return g.expand(fmt.Sprintf(`
INSERT INTO events
WITH br AS (
  SELECT i, member_id, brand, b,
    {today} - to_days(1 + floor(@ub{off} * least(signup_days, 365))::INTEGER)
            + to_seconds(36000 + floor(@ub{tod} * 43200)::INTEGER) AS ts,
    %[2]s AS sku, %[3]s AS category,
    @ub{cart} AS u_cart, @ub{fav} AS u_fav
  FROM (SELECT *, unnest(range(floor(@u{nbrowse} * CASE WHEN brand = 'acme' THEN 4 ELSE 2 END)::BIGINT)) AS b
        FROM _demo_m)
), ms AS (
  SELECT i, member_id, brand, b,
    {today} - to_days(1 + floor(@ub{off} * least(signup_days, 180))::INTEGER)
            + to_seconds(36000 + floor(@ub{tod} * 43200)::INTEGER) AS ts,
    %[4]s AS channel,
    json_object('campaign', %[5]s) AS props,
    @ub{click} AS u_click
  FROM (SELECT *, unnest(range(floor(@u{nmsg} * 3)::BIGINT)) AS b FROM _demo_m)
), ev AS (
  SELECT i, member_id, brand, 'order_placed' AS type, ts - INTERVAL 3 MINUTE AS ts, NULL AS store,
         sku, category, amount, 'online' AS channel, order_id, NULL::JSON AS props, 1 * 64 + j AS code
    FROM _demo_p WHERE online
  UNION ALL
  SELECT i, member_id, brand, 'paid', ts - INTERVAL 1 MINUTE, NULL, sku, category, amount, 'online', order_id, NULL, 2 * 64 + j
    FROM _demo_p WHERE online
  UNION ALL
  SELECT i, member_id, brand, 'visited', ts - INTERVAL 25 MINUTE, store, NULL, NULL, NULL, 'store', NULL, NULL, 3 * 64 + j
    FROM _demo_p WHERE NOT online
  UNION ALL
  SELECT i, member_id, brand, 'queued', ts - INTERVAL 50 MINUTE, store, NULL, NULL, NULL, 'store', NULL,
         json_object('party_size', 1 + floor(@uj{party} * 6)::INTEGER), 4 * 64 + j
    FROM _demo_p WHERE NOT online AND @uj{book} < 0.2
  UNION ALL
  SELECT i, member_id, brand, 'booked', ts - INTERVAL 2 DAY, store, NULL, NULL, NULL, 'store', NULL,
         json_object('party_size', 1 + floor(@uj{party} * 6)::INTEGER), 5 * 64 + j
    FROM _demo_p WHERE NOT online AND @uj{book} >= 0.2 AND @uj{book} < 0.3 AND off + 2 < signup_days
  UNION ALL
  SELECT i, member_id, brand, 'purchased', ts, store, sku, category, amount,
         CASE WHEN online THEN 'online' ELSE 'store' END, order_id, NULL, 6 * 64 + j
    FROM _demo_p
  UNION ALL
  SELECT i, member_id, brand, 'refunded', ts + INTERVAL 2 DAY, store, sku, category, amount,
         CASE WHEN online THEN 'online' ELSE 'store' END, order_id, NULL, 7 * 64 + j
    FROM _demo_p WHERE off >= 3 AND @uj{refund} < 0.03
  UNION ALL
  SELECT i, member_id, brand, 'browsed', ts, NULL, sku, category, NULL, 'online', NULL, NULL, 8 * 64 + b FROM br
  UNION ALL
  SELECT i, member_id, brand, 'carted', ts + INTERVAL 5 MINUTE, NULL, sku, category, NULL, 'online', NULL, NULL, 9 * 64 + b
    FROM br WHERE u_cart < 0.35
  UNION ALL
  SELECT i, member_id, brand, 'favorited', ts + INTERVAL 7 MINUTE, NULL, sku, category, NULL, 'online', NULL, NULL, 10 * 64 + b
    FROM br WHERE u_fav < 0.15
  UNION ALL
  SELECT i, member_id, brand, 'message_opened', ts, NULL, NULL, NULL, NULL, channel, NULL, props, 11 * 64 + b FROM ms
  UNION ALL
  SELECT i, member_id, brand, 'message_clicked', ts + INTERVAL 2 MINUTE, NULL, NULL, NULL, NULL, channel, NULL, props, 12 * 64 + b
    FROM ms WHERE u_click < 0.3
  UNION ALL
  -- abandoned orders in the past: placed, never paid
  SELECT i, member_id, brand, 'order_placed',
         {today} - to_days(2 + floor(@u{x_off} * (least(signup_days, 365) - 2))::INTEGER)
                 + to_seconds(36000 + floor(@u{x_tod} * 43200)::INTEGER),
         NULL, %[6]s, NULL, round(%[7]s, 2)::DECIMAL(18,2), 'online', 'O' || (i + 1) || '-X', NULL, 13 * 64
    FROM _demo_m WHERE brand = 'acme' AND signup_days >= 3 AND @u{x} < 0.05
  UNION ALL
  -- case 1: queued or booked at store A in the 24 hours before now
  SELECT i, member_id, brand, CASE WHEN @u{a_type} < 0.5 THEN 'queued' ELSE 'booked' END,
         {now} - to_seconds(1800 + floor(@u{a_t} * 75600)::INTEGER),
         CASE WHEN brand = 'acme' THEN '%[8]s' ELSE '%[9]s' END, NULL, NULL, NULL, 'store', NULL,
         json_object('party_size', 1 + floor(@u{a_party} * 6)::INTEGER), 14 * 64
    FROM _demo_m WHERE persona = 'store_a'
  UNION ALL
  -- case 6: an order placed 2.5-20 hours before now and never paid
  SELECT i, member_id, brand, 'order_placed', {now} - to_seconds(9000 + floor(@u{u_t} * 63000)::INTEGER),
         NULL, %[6]s, NULL, round(%[7]s, 2)::DECIMAL(18,2), 'online', 'O' || (i + 1) || '-U', NULL, 15 * 64
    FROM _demo_m WHERE persona = 'unpaid'
  UNION ALL
  -- case 2: a visit to a 长沙 store in the last 85 days
  SELECT i, member_id, brand, 'visited',
         {today} - to_days(1 + floor(@u{v_off} * least(85, signup_days - 1))::INTEGER) + to_seconds(36000 + floor(@u{v_tod} * 43200)::INTEGER),
         home_store, NULL, NULL, NULL, 'store', NULL, NULL, 16 * 64
    FROM _demo_m WHERE persona = 'changsha'
)
-- seq: member order, then time order within the member, then a code
-- unique within the member (event kind * 64 + purchase/browse index): a
-- total order on the data alone, packed into one BIGINT sort key
-- (member-in-chunk: 17 bits, seconds since now-1500 days: 27 bits, code: 11).
SELECT %[1]d + row_number() OVER (ORDER BY
         ((i - %[10]d) * 134217728 + date_diff('second', {now} - INTERVAL 1500 DAY, ts)) * 2048 + code),
       member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props
FROM ev`,
		seq, browseSku, browseCat,
		pick(channels(), "@ub{channel}"), pick(campaigns, "@ub{campaign}"),
		unpaidSku, fmt.Sprintf(lognormal, "@n{unpaid_amt}"),
		StoreA, stores(BrandBistro).primary[0], lo))
}
