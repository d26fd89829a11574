//! The presets: how big the simulated network is and how busy.

/// One city of a preset.
#[derive(Debug, Clone)]
pub struct CitySpec {
    pub code: &'static str,
    pub name: &'static str,
    /// Library codes start with this (`GZ-CENTRAL`).
    pub prefix: &'static str,
    /// Loans a day, on average over a week.
    pub loans_per_day: f64,
    pub generals: usize,
    pub branches_per_general: usize,
    pub service_points: usize,
    pub self_service: usize,
    pub booths: usize,
    pub items: usize,
    pub patrons: usize,
}

/// A preset: the network's size and its rates.
#[derive(Debug, Clone)]
pub struct Scale {
    pub name: &'static str,
    pub cities: Vec<CitySpec>,
    /// Distinct titles in the network.
    pub titles: usize,
    pub swaps_per_booth_day: f64,
}

impl Scale {
    /// For tests: two small cities, a few hundred loans a day.
    pub fn small() -> Self {
        Self {
            name: "small",
            cities: vec![
                CitySpec {
                    code: "jinan",
                    name: "济南",
                    prefix: "JN",
                    loans_per_day: 300.0,
                    generals: 1,
                    branches_per_general: 2,
                    service_points: 2,
                    self_service: 1,
                    booths: 1,
                    items: 3_000,
                    patrons: 400,
                },
                CitySpec {
                    code: "zibo",
                    name: "淄博",
                    prefix: "ZB",
                    loans_per_day: 200.0,
                    generals: 1,
                    branches_per_general: 1,
                    service_points: 1,
                    self_service: 1,
                    booths: 1,
                    items: 2_000,
                    patrons: 300,
                },
            ],
            titles: 800,
            swaps_per_booth_day: 12.0,
        }
    }

    /// About 90,000 loans a day across the network (Guangzhou lends 32.7M a year).
    pub fn city() -> Self {
        Self {
            name: "city",
            cities: vec![
                CitySpec {
                    code: "guangzhou",
                    name: "广州",
                    prefix: "GZ",
                    loans_per_day: 70_000.0,
                    generals: 11,
                    branches_per_general: 8,
                    service_points: 40,
                    self_service: 20,
                    booths: 10,
                    items: 1_500_000,
                    patrons: 1_000_000,
                },
                CitySpec {
                    code: "foshan",
                    name: "佛山",
                    prefix: "FS",
                    loans_per_day: 20_000.0,
                    generals: 5,
                    branches_per_general: 6,
                    service_points: 20,
                    self_service: 8,
                    booths: 6,
                    items: 500_000,
                    patrons: 300_000,
                },
            ],
            titles: 300_000,
            swaps_per_booth_day: 30.0,
        }
    }

    /// A province: six cities, about 175,000 loans a day.
    pub fn province() -> Self {
        let mut scale = Self::city();
        scale.name = "province";
        let more = [
            ("shenzhen", "深圳", "SZ", 50_000.0, 8, 1_000_000, 700_000),
            ("dongguan", "东莞", "DG", 15_000.0, 4, 400_000, 250_000),
            ("zhuhai", "珠海", "ZH", 10_000.0, 3, 250_000, 150_000),
            ("shantou", "汕头", "ST", 10_000.0, 3, 250_000, 150_000),
        ];
        for (code, name, prefix, loans, generals, items, patrons) in more {
            scale.cities.push(CitySpec {
                code,
                name,
                prefix,
                loans_per_day: loans,
                generals,
                branches_per_general: 6,
                service_points: 15,
                self_service: 6,
                booths: 4,
                items,
                patrons,
            });
        }
        scale.titles = 500_000;
        scale
    }

    /// A preset by name: `small`, `city` or `province`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "small" => Some(Self::small()),
            "city" => Some(Self::city()),
            "province" => Some(Self::province()),
            _ => None,
        }
    }
}
