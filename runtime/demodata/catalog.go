package demodata

import (
	"fmt"
	"strings"

	"nudge/internal/sqlquote"
)

// The catalog is the fixed vocabulary the generator draws from: brands,
// cities, stores, products, names. It is read-only data; the SQL builders
// render it into DuckDB list literals.

// Brands of the demo data, with the share of members each gets.
const (
	BrandAcme   = "acme"   // retail chain with stores and an online shop (80%)
	BrandBistro = "bistro" // Hunan restaurant chain (20%)
)

// StoreA is the acme store the store-coupon case (SPEC §1 case 1) is about.
const StoreA = "A"

// city is a member's home city; weights sum to 1.
type city struct {
	name, region string
	weight       float64
}

// cities are the home cities; 长沙 first: it has two stores per brand.
func cities() []city {
	return []city{
		{"长沙", "华中", 0.20},
		{"上海", "华东", 0.15},
		{"北京", "华北", 0.14},
		{"广州", "华南", 0.10},
		{"深圳", "华南", 0.10},
		{"杭州", "华东", 0.09},
		{"成都", "西南", 0.08},
		{"武汉", "华中", 0.07},
		{"南京", "华东", 0.07},
	}
}

// storeSet is one brand's stores: primary[c] is the store of city c,
// second is a second store in 长沙 (city 0).
type storeSet struct {
	primary []string
	second  string
}

func (s storeSet) all() []string { return append(append([]string(nil), s.primary...), s.second) }

// storesPerBrand is the number of stores of each brand.
const storesPerBrand = 10

// storeList is every store: acme's storesPerBrand, then bistro's. The
// generator carries stores as 1-based indexes into it.
func storeList() []string { return append(stores(BrandAcme).all(), stores(BrandBistro).all()...) }

func stores(brand string) storeSet {
	if brand == BrandAcme {
		return storeSet{
			primary: []string{StoreA, "C", "D", "E", "F", "G", "H", "I", "J"},
			second:  "B",
		}
	}
	return storeSet{
		primary: []string{"望湘园五一店", "望湘园徐汇店", "望湘园朝阳店", "望湘园天河店",
			"望湘园南山店", "望湘园西湖店", "望湘园锦江店", "望湘园江汉店", "望湘园鼓楼店"},
		second: "望湘园岳麓店",
	}
}

// product is a SKU with its category.
type product struct{ sku, category string }

// ToothbrushSKU is the 10-pack that lasts about a year (SPEC §1 case 9).
const ToothbrushSKU = "TB-10PK"

// products of a brand; repeated entries weigh a product up. The 10-pack of
// toothbrushes is the best seller, as in the source material.
func products(brand string) []product {
	if brand == BrandAcme {
		return []product{
			{ToothbrushSKU, "oral_care"}, {ToothbrushSKU, "oral_care"},
			{"TB-2PK", "oral_care"}, {"TP-120G", "oral_care"}, {"MW-500ML", "oral_care"},
			{"FL-50M", "oral_care"}, {"ETB-PRO", "device"}, {"SH-400ML", "hair_care"},
			{"BW-500ML", "body_care"}, {"HC-50ML", "skin_care"}, {"FM-5PC", "skin_care"},
			{"TP-120G", "oral_care"},
		}
	}
	return []product{
		{"FROG-XL", "signature"}, {"FISH-HEAD", "signature"}, {"PORK-HS", "classic"},
		{"TOFU-STINKY", "snack"}, {"RICE-SET", "set_meal"}, {"TEA-SET", "drink"},
		{"DUCK-SPICY", "classic"}, {"NOODLE-BEEF", "set_meal"},
	}
}

// productList is every product: acme's, then bistro's. The generator carries
// products as 1-based indexes into it.
func productList() []product { return append(products(BrandAcme), products(BrandBistro)...) }

// productIndex is the 1-based index of the first product with sku in
// productList, 0 if there is none.
func productIndex(sku string) int {
	for n, p := range productList() {
		if p.sku == sku {
			return n + 1
		}
	}
	return 0
}

// intList renders a DuckDB list literal of integers: [1, 2].
func intList(items []int) string {
	q := make([]string, len(items))
	for i, n := range items {
		q[i] = fmt.Sprint(n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func surnames() []string {
	return strings.Fields("王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 田 董 袁 潘 蒋 蔡 欧阳")
}

func givenNames(female bool) []string {
	if female {
		return strings.Fields("芳 娜 敏 静 丽 艳 娟 霞 秀英 桂英 婷 雪 琳 晶 欣怡 雨涵 梓涵 思雨 佳怡 慧 玲 颖 倩 洁 红 燕 萍 月 晓燕 丹")
	}
	return strings.Fields("伟 强 磊 军 洋 勇 杰 涛 明 超 刚 平 辉 鹏 华 飞 斌 宇 浩 凯 健 俊 帆 子轩 浩然 宇航 博文 志强 建国 家豪")
}

func occupations() []string {
	return strings.Fields("白领 学生 教师 医生 工程师 自由职业 公务员 个体户 销售 设计师 退休")
}

// Channels are the message channels of the consent columns.
func channels() []string { return []string{"sms", "wechat", "app_push", "email"} }

// sqlList renders a DuckDB list literal of strings: ['a', 'b']. The items
// are this package's own constants, which quote without error.
func sqlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i], _ = sqlquote.String(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// pick renders an expression choosing an element of items with the uniform
// [0,1) expression u (DuckDB lists are 1-based).
func pick(items []string, u string) string {
	return fmt.Sprintf("%s[1 + floor((%s) * %d)::INTEGER]", sqlList(items), u, len(items))
}

func skus(ps []product) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.sku
	}
	return out
}

func categories(ps []product) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.category
	}
	return out
}
