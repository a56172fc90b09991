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

	// home_st indexes storeList(): a brand's primary store of the member's
	// city, or in 长沙 (city 0) half the time the brand's second store there.
	homeStore := func(base int) string {
		return fmt.Sprintf("%d + CASE WHEN city_idx = 0 AND u_store < 0.5 THEN %d ELSE city_idx + 1 END",
			base, len(cs)+1)
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
  CASE WHEN brand = 'acme' THEN %[5]s ELSE %[6]s END AS home_st
FROM d`, lo, hi, personaCase, cityCase.String(), homeStore(0), homeStore(storesPerBrand)))
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
// its day offset, timestamp, online or in a store, store and product (as
// indexes into storeList and productList) and amount. The spike and the
// toothbrush personas get one extra purchase each.
func (g gen) purchasesSQL() string {
	acmeP := products(BrandAcme)
	var acmeNoTB []int // productList indexes (1-based) of acme products but the 10-pack
	for n, p := range acmeP {
		if p.sku != ToothbrushSKU {
			acmeNoTB = append(acmeNoTB, n+1)
		}
	}
	return g.expand(fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE _demo_p AS
WITH p AS (
  SELECT i, brand = 'acme' AS acme, persona, k, signup_days, first_off, last_off, home_st, band_lo,
         unnest(range(k)) AS j
  FROM _demo_m WHERE k > 0
), q AS (
  SELECT *,
    CASE WHEN j = 0 THEN first_off WHEN j = k - 1 THEN last_off
         ELSE last_off + floor(@uj{mid} * (first_off - last_off + 1))::INTEGER END AS off,
    (persona = 'spike' OR @uj{online} < CASE WHEN acme THEN 0.6 ELSE 0.1 END) AS online
  FROM p
)
SELECT i, acme, j, off, signup_days,
  {today} - to_days(off) + to_seconds(36000 + floor(@uj{tod} * 43200)::INTEGER) AS ts,
  online,
  CASE WHEN online THEN NULL WHEN @uj{away} < 0.85 THEN home_st
       ELSE CASE WHEN acme THEN 0 ELSE %[1]d END + 1 + floor(@uj{away_store} * %[1]d)::INTEGER END AS st,
  CASE WHEN NOT acme THEN %[2]d + 1 + floor(@uj{sku} * %[3]d)::INTEGER
       WHEN persona = 'toothbrush' THEN %[4]s[1 + floor(@uj{sku} * %[5]d)::INTEGER]
       ELSE 1 + floor(@uj{sku} * %[2]d)::INTEGER END AS sk,
  round(CASE WHEN persona = 'spike' THEN band_lo * (1 + 0.1 * @uj{band})
             WHEN persona = 'gold_loyal' THEN 130 + %[6]s
             ELSE %[6]s END, 2)::DECIMAL(18,2) AS amount
FROM q
UNION ALL
SELECT i, brand = 'acme', k AS j, 0 AS off, signup_days,
  {now} - to_seconds(1800 + floor(@u{spike_t} * 68400)::INTEGER) AS ts,
  true AS online, NULL AS st,
  CASE WHEN brand = 'acme' THEN %[7]d ELSE %[8]d END AS sk,
  round(band_lo * 1.1 * (1.8 + 1.2 * @u{spike_amt}), 2)::DECIMAL(18,2) AS amount
FROM _demo_m WHERE persona = 'spike'
UNION ALL
SELECT i, true, k AS j, tb_off AS off, signup_days,
  {today} - to_days(tb_off) + to_seconds(36000 + floor(@u{tb_tod} * 43200)::INTEGER) AS ts,
  true AS online, NULL AS st, %[9]d AS sk, 59.90::DECIMAL(18,2) AS amount
FROM _demo_m WHERE persona = 'toothbrush' AND brand = 'acme'`,
		storesPerBrand, len(acmeP), len(products(BrandBistro)), intList(acmeNoTB), len(acmeNoTB),
		fmt.Sprintf(lognormal, "@nj{amount}"),
		productIndex("ETB-PRO"), productIndex("FROG-XL"), productIndex(ToothbrushSKU)))
}

// Event type codes of the events query, 1-based into eventTypes().
const (
	tOrderPlaced = iota + 1
	tPaid
	tVisited
	tQueued
	tBooked
	tPurchased
	tRefunded
	tBrowsed
	tCarted
	tFavorited
	tMessageOpened
	tMessageClicked
)

// eventTypes are the crm event types the generator writes, by code.
func eventTypes() []string {
	return []string{"order_placed", "paid", "visited", "queued", "booked", "purchased",
		"refunded", "browsed", "carted", "favorited", "message_opened", "message_clicked"}
}

// Channel codes of the events query, 1-based into eventChannels().
const (
	chOnline = iota + 1
	chStore
	chMessage // chMessage + n is channels()[n]
)

func eventChannels() []string { return append([]string{"online", "store"}, channels()...) }

// Order id kinds: the purchase's own order, an abandoned order in the past,
// the unpaid order of case 6.
const (
	oidPurchase = iota + 1
	oidAbandoned
	oidUnpaid
)

// eventsSQL inserts the events of the chunk starting at member lo, numbering
// them seq+1, seq+2, ... in member, time order.
//
// The branches of ev produce narrow rows of numbers (type, store, product
// and channel codes, an order-id kind, a props value), packed into two
// integers for the numbering; the strings are made only after it: sorting
// three fixed-width columns is several times cheaper than sorting events.
func (g gen) eventsSQL(lo, seq int64) string {
	campaigns := []string{"d11-warmup", "618-recap", "new-arrivals", "member-day", "spring-festival"}
	nAcme, nBistro := len(products(BrandAcme)), len(products(BrandBistro))
	product := func(u string) string { // a random product of the row's brand
		return fmt.Sprintf("CASE WHEN acme THEN 1 + floor(%[1]s * %[2]d)::INTEGER ELSE %[2]d + 1 + floor(%[1]s * %[3]d)::INTEGER END",
			u, nAcme, nBistro)
	}
	prods := productList()
	// props are looked up, not built per row: json_object on millions of
	// rows costs more than the rest of the projection.
	var partyProps, campaignProps []string
	for n := 1; n <= 6; n++ {
		partyProps = append(partyProps, fmt.Sprintf(`{"party_size":%d}`, n))
	}
	for _, c := range campaigns {
		campaignProps = append(campaignProps, fmt.Sprintf(`{"campaign":%q}`, c))
	}
	return g.expand(fmt.Sprintf(`
INSERT INTO events
WITH m AS (
  SELECT i, brand = 'acme' AS acme, persona, signup_days, home_st FROM _demo_m
), br AS (
  SELECT i, acme, b,
    {today} - to_days(1 + floor(@ub{off} * least(signup_days, 365))::INTEGER)
            + to_seconds(36000 + floor(@ub{tod} * 43200)::INTEGER) AS ts,
    %[3]s AS sk, @ub{cart} AS u_cart, @ub{fav} AS u_fav
  FROM (SELECT *, unnest(range(floor(@u{nbrowse} * CASE WHEN acme THEN 4 ELSE 2 END)::BIGINT)) AS b FROM m)
), ms AS (
  SELECT i, acme, b,
    {today} - to_days(1 + floor(@ub{off} * least(signup_days, 180))::INTEGER)
            + to_seconds(36000 + floor(@ub{tod} * 43200)::INTEGER) AS ts,
    %[4]d + 1 + floor(@ub{channel} * %[5]d)::INTEGER AS ch,
    1 + floor(@ub{campaign} * %[6]d)::INTEGER AS pv,
    @ub{click} AS u_click
  FROM (SELECT *, unnest(range(floor(@u{nmsg} * 3)::BIGINT)) AS b FROM m)
), ev AS (
  -- i, acme, type, ts, store, product, amount, channel, order id kind, order number, props value, code
  SELECT i, acme, %[7]d AS t, ts - INTERVAL 3 MINUTE AS ts, NULL::INTEGER AS st, sk, amount,
         %[19]d AS ch, %[22]d AS ok, j + 1 AS oj, NULL::INTEGER AS pv, 1 * 64 + j AS code
    FROM _demo_p WHERE online
  UNION ALL
  SELECT i, acme, %[8]d, ts - INTERVAL 1 MINUTE, NULL, sk, amount, %[19]d, %[22]d, j + 1, NULL, 2 * 64 + j
    FROM _demo_p WHERE online
  UNION ALL
  SELECT i, acme, %[9]d, ts - INTERVAL 25 MINUTE, st, NULL, NULL, %[20]d, NULL, NULL, NULL, 3 * 64 + j
    FROM _demo_p WHERE NOT online
  UNION ALL
  SELECT i, acme, %[10]d, ts - INTERVAL 50 MINUTE, st, NULL, NULL, %[20]d, NULL, NULL,
         1 + floor(@uj{party} * 6)::INTEGER, 4 * 64 + j
    FROM _demo_p WHERE NOT online AND @uj{book} < 0.2
  UNION ALL
  SELECT i, acme, %[11]d, ts - INTERVAL 2 DAY, st, NULL, NULL, %[20]d, NULL, NULL,
         1 + floor(@uj{party} * 6)::INTEGER, 5 * 64 + j
    FROM _demo_p WHERE NOT online AND @uj{book} >= 0.2 AND @uj{book} < 0.3 AND off + 2 < signup_days
  UNION ALL
  SELECT i, acme, %[12]d, ts, st, sk, amount, CASE WHEN online THEN %[19]d ELSE %[20]d END,
         %[22]d, j + 1, NULL, 6 * 64 + j
    FROM _demo_p
  UNION ALL
  SELECT i, acme, %[13]d, ts + INTERVAL 2 DAY, st, sk, amount, CASE WHEN online THEN %[19]d ELSE %[20]d END,
         %[22]d, j + 1, NULL, 7 * 64 + j
    FROM _demo_p WHERE off >= 3 AND @uj{refund} < 0.03
  UNION ALL
  SELECT i, acme, %[14]d, ts, NULL, sk, NULL, %[19]d, NULL, NULL, NULL, 8 * 64 + b FROM br
  UNION ALL
  SELECT i, acme, %[15]d, ts + INTERVAL 5 MINUTE, NULL, sk, NULL, %[19]d, NULL, NULL, NULL, 9 * 64 + b
    FROM br WHERE u_cart < 0.35
  UNION ALL
  SELECT i, acme, %[16]d, ts + INTERVAL 7 MINUTE, NULL, sk, NULL, %[19]d, NULL, NULL, NULL, 10 * 64 + b
    FROM br WHERE u_fav < 0.15
  UNION ALL
  SELECT i, acme, %[17]d, ts, NULL, NULL, NULL, ch, NULL, NULL, pv, 11 * 64 + b FROM ms
  UNION ALL
  SELECT i, acme, %[18]d, ts + INTERVAL 2 MINUTE, NULL, NULL, NULL, ch, NULL, NULL, pv, 12 * 64 + b
    FROM ms WHERE u_click < 0.3
  UNION ALL
  -- abandoned orders in the past: placed, never paid
  SELECT i, acme, %[7]d,
         {today} - to_days(2 + floor(@u{x_off} * (least(signup_days, 365) - 2))::INTEGER)
                 + to_seconds(36000 + floor(@u{x_tod} * 43200)::INTEGER),
         NULL, %[25]s, round(%[26]s, 2)::DECIMAL(18,2), %[19]d, %[23]d, NULL, NULL, 13 * 64
    FROM m WHERE acme AND signup_days >= 3 AND @u{x} < 0.05
  UNION ALL
  -- case 1: queued or booked at store A in the 24 hours before now
  SELECT i, acme, CASE WHEN @u{a_type} < 0.5 THEN %[10]d ELSE %[11]d END,
         {now} - to_seconds(1800 + floor(@u{a_t} * 75600)::INTEGER),
         CASE WHEN acme THEN 1 ELSE %[21]d + 1 END, NULL, NULL, %[20]d, NULL, NULL,
         1 + floor(@u{a_party} * 6)::INTEGER, 14 * 64
    FROM m WHERE persona = 'store_a'
  UNION ALL
  -- case 6: an order placed 2.5-20 hours before now and never paid
  SELECT i, acme, %[7]d, {now} - to_seconds(9000 + floor(@u{u_t} * 63000)::INTEGER),
         NULL, %[27]s, round(%[28]s, 2)::DECIMAL(18,2), %[19]d, %[24]d, NULL, NULL, 15 * 64
    FROM m WHERE persona = 'unpaid'
  UNION ALL
  -- case 2: a visit to a 长沙 store in the last 85 days
  SELECT i, acme, %[9]d,
         {today} - to_days(1 + floor(@u{v_off} * least(85, signup_days - 1))::INTEGER)
                 + to_seconds(36000 + floor(@u{v_tod} * 43200)::INTEGER),
         home_st, NULL, NULL, %[20]d, NULL, NULL, NULL, 16 * 64
    FROM m WHERE persona = 'changsha'
), packed AS (
  -- The sort key: member order, then time order within the member, then a
  -- code unique within the member (event kind * 64 + purchase/browse
  -- index): a total order on the data alone, packed into one BIGINT
  -- (member-in-chunk: 17 bits, seconds since now-1500 days: 27, code: 11),
  -- from which member, time and index are decoded again. The other small
  -- numbers are packed into one INTEGER, so the sort moves three columns.
  SELECT ((i - %[2]d) * 134217728 + date_diff('second', {now} - INTERVAL 1500 DAY, ts)) * 2048 + code AS k,
         t + (coalesce(st, 0) << 4) + (coalesce(sk, 0) << 9) + (ch << 14) + (coalesce(ok, 0) << 17)
           + (coalesce(pv, 0) << 20) + (acme::INTEGER << 23) AS a,
         amount
  FROM ev
), numbered AS (
  SELECT %[1]d + row_number() OVER (ORDER BY k) AS seq, %[2]d + (k >> 38) AS i, k, a, amount FROM packed
)
SELECT seq,
  'M' || lpad((i + 1)::VARCHAR, 8, '0') AS member_id,
  CASE WHEN (a >> 23) = 1 THEN 'acme' ELSE 'bistro' END AS brand,
  %[29]s[(a & 15)] AS type,
  {now} - INTERVAL 1500 DAY + to_seconds((k >> 11) & 134217727) AS ts,
  %[30]s[(a >> 4) & 31] AS store,
  %[31]s[(a >> 9) & 31] AS sku,
  %[32]s[(a >> 9) & 31] AS category,
  amount,
  %[33]s[(a >> 14) & 7] AS channel,
  CASE (a >> 17) & 7 WHEN %[22]d THEN 'O' || (i + 1) || '-' || ((k & 63) + 1)
                     WHEN %[23]d THEN 'O' || (i + 1) || '-X'
                     WHEN %[24]d THEN 'O' || (i + 1) || '-U' END AS order_id,
  CASE WHEN (a & 15) IN (%[10]d, %[11]d) THEN %[34]s[(a >> 20) & 7]
       WHEN (a & 15) IN (%[17]d, %[18]d) THEN %[35]s[(a >> 20) & 7] END::JSON AS props
FROM numbered`,
		seq, lo, product("@ub{sku}"),
		chMessage-1, len(channels()), len(campaigns),
		tOrderPlaced, tPaid, tVisited, tQueued, tBooked, tPurchased, tRefunded, // 7-13
		tBrowsed, tCarted, tFavorited, tMessageOpened, tMessageClicked, // 14-18
		chOnline, chStore, storesPerBrand, // 19-21
		oidPurchase, oidAbandoned, oidUnpaid, // 22-24
		product("@u{x_sku}"), fmt.Sprintf(lognormal, "@n{x_amt}"), // 25-26
		product("@u{unpaid_sku}"), fmt.Sprintf(lognormal, "@n{unpaid_amt}"), // 27-28
		sqlList(eventTypes()), sqlList(storeList()), sqlList(skus(prods)), sqlList(categories(prods)), // 29-32
		sqlList(eventChannels()), sqlList(partyProps), sqlList(campaignProps))) // 33-35
}
