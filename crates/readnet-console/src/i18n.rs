//! The console's labels in Chinese (the default) and English.

/// The page language, from the `readnet_lang` cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_cookie(value: Option<&str>) -> Self {
        match value {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The label of `key`; the key itself if it has none.
    pub fn t(self, key: &'static str) -> &'static str {
        let Some((zh, en)) = LABELS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|l| (l.1, l.2))
        else {
            return key;
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

const LABELS: &[(&str, &str, &str)] = &[
    (
        "title",
        "readnet 总分馆监测中心",
        "readnet monitoring centre",
    ),
    ("monitor", "监测中心", "Monitoring centre"),
    ("charts", "图表", "Charts"),
    ("settlement", "结算", "Settlement"),
    ("item", "查书", "Item"),
    ("account", "读者账户", "Patron account"),
    ("worklists", "工作清单", "Work lists"),
    ("login", "登录", "Log in"),
    ("logout", "退出", "Log out"),
    ("token", "令牌", "Token"),
    ("language", "English", "中文"),
    ("city", "城市", "City"),
    ("library", "图书馆", "Library"),
    ("status", "状态", "Status"),
    ("open", "开放", "open"),
    ("closed", "闭馆", "closed"),
    ("silent", "静默", "silent"),
    ("last_activity", "最近活动", "Last activity"),
    ("events_last_hour", "近一小时事件", "Events, last hour"),
    ("loans_today", "今日借出", "Loans today"),
    ("returns_today", "今日归还", "Returns today"),
    ("on_loan", "在借", "On loan"),
    ("overdue", "逾期", "Overdue"),
    ("in_transit", "在途", "In transit"),
    ("holds_waiting", "待取预约", "Holds waiting"),
    ("visits_today", "今日人流量", "Footfall today"),
    (
        "subtree_total",
        "总馆网络合计",
        "Network of the general library",
    ),
    ("city_total", "城市合计", "City total"),
    ("network_total", "全网合计", "Whole network"),
    ("alerts", "告警", "Alerts"),
    ("no_alerts", "无告警", "No alerts"),
    ("alert_silent", "静默，最近活动于", "silent, last active at"),
    ("alert_overdue", "笔借阅逾期", "loans overdue"),
    ("as_of", "截至", "As of"),
    ("live", "实时", "live"),
    ("forbidden", "无权访问", "Forbidden"),
    ("not_found", "未找到", "Not found"),
    ("bad_request", "请求有误", "Bad request"),
    ("unavailable", "暂不可用", "Unavailable"),
    (
        "loans_by_hour",
        "今日每小时借出 vs 上月同一星期几",
        "Loans per hour today vs the same weekday last month",
    ),
    ("today", "今日", "today"),
    (
        "last_month_same_weekday",
        "上月同一星期几",
        "same weekday last month",
    ),
    (
        "flows",
        "跨城流向（所属城市 → 归还城市）",
        "Cross-city flows (owner city → return city)",
    ),
    ("top_titles", "热门图书", "Top titles"),
    (
        "hold_fill",
        "预约满足时间（分钟）",
        "Hold fill times (minutes)",
    ),
    ("median", "中位数", "median"),
    ("p90", "90 分位", "90th percentile"),
    ("month", "月份", "Month"),
    ("period", "结算期", "Period"),
    ("show", "查看", "Show"),
    ("debtor", "付款城市", "Debtor city"),
    ("creditor", "收款城市", "Creditor city"),
    ("kind", "类型", "Kind"),
    ("count", "笔数", "Count"),
    ("amount", "金额（元）", "Amount (yuan)"),
    ("net", "净额（元）", "Net (yuan)"),
    ("charges", "费用明细", "Charges"),
    ("position", "位置", "Position"),
    ("occurred_at", "发生时间", "Occurred at"),
    ("statement_status", "对账单状态", "Statement status"),
    ("lookup", "查询", "Look up"),
    ("item_code", "条码", "Item code"),
    ("where", "所在位置", "Where it is"),
    ("history", "流通历史", "History"),
    (
        "history_denied",
        "此角色无权读取日志，不能显示历史。",
        "This role may not read the log: no history shown.",
    ),
    ("card", "读者证号", "Card number"),
    ("loans", "借阅", "Loans"),
    ("holds", "预约", "Holds"),
    ("debts", "欠款", "Debts"),
    ("blocked", "已冻结", "Blocked"),
    ("pick_list", "取书单", "Pick list"),
    ("homebound", "待归还本馆", "Homebound"),
    ("transit_in", "在途（入）", "In transit (in)"),
    ("transit_out", "在途（出）", "In transit (out)"),
    ("hold_shelf", "预约书架", "Hold shelf"),
    ("title_col", "书名", "Title"),
    ("due", "应还", "Due"),
    ("total", "合计", "Total"),
    ("principal", "用户", "Principal"),
    ("role", "角色", "Role"),
    ("none", "无", "none"),
];
