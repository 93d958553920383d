// Chinese by default (the original's language), English on request; the choice is remembered in
// localStorage. Static text carries data-i18n="key"; code asks t(key) for everything it writes.

const STRINGS = {
  zh: {
    subtitle: '公网流量监控',
    up: '上行',
    down: '下行',
    total: '总流量',
    interface: '网卡',
    all_interfaces: '全部网卡',
    today_total: '今日总流量',
    month_total: '本月总流量',
    year_total: '本年总流量',
    today_updown: '今日上行 / 下行',
    query_title: '自定义日期查询',
    start_date: '开始日期',
    end_date: '结束日期',
    granularity: '统计粒度',
    g_hour: '小时',
    g_day: '按天',
    g_month: '按月',
    run: '查询',
    q_today: '今天',
    q_yesterday: '昨天',
    q_last7: '近 7 天',
    q_last30: '近 30 天',
    q_this_month: '本月',
    q_last_month: '上月',
    q_this_year: '今年',
    range: '范围',
    range_top: '该范围公网 IP TOP 10',
    days30_title: '最近 30 天每日流量',
    months12_title: '近 12 个月月度流量',
    hours_title: '今日 24 小时分布',
    top_title: '今日公网 IP 流量排行 TOP 10',
    timezone: '服务器时区',
    licenses: '第三方许可',
    no_data: '暂无数据',
    points: '个数据点',
    err_dates: '请选择有效的开始和结束日期',
    err_order: '结束日期不能早于开始日期',
    err_unreachable: '无法连接服务器',
    err_prefix: '接口错误',
    capturing: '采集中',
    not_captured: '当前未采集，仅有历史',
    drops: '丢包',
    share: '占比',
    cycle_title: '计费周期',
    cycle_used: '已用',
    cycle_remaining: '剩余',
    cycle_days_left: '剩余天数',
    cycle_forecast: '周期末预计',
    cycle_runs_out: '按当前速度，配额将于 {date} 用完',
    cycle_no_quota: '未设置配额（QUOTA）：只统计用量',
    cycle_counts: '计入：',
    cycle_past: '前 12 个周期',
    cycle_limit: '配额',
    basis_total: '上行 + 下行',
    basis_down: '仅下行',
    basis_up: '仅上行',
    basis_max: '上行与下行中较大者',
    net_title: '按网络',
    country_title: '按国家/地区',
    addresses: '个地址',
    more_networks: '其余 {n} 个网络',
    more_countries: '其余 {n} 个国家/地区',
    places_unknown: '数据库中查不到',
    places_untracked: '未进入每日地址表',
    places_more_tip: '列表之外的网络或国家/地区，合计',
    places_unknown_tip: 'GEOIP_DB 的文件中没有的地址',
    places_untracked_tip: '每天只保留流量最大的 TOP_IPS_PER_DAY 个地址，其余流量无法归属',
    devices_title: '设备流量排行',
    services_title: '服务流量排行',
    device_filter: '设备筛选',
    device_clear: '取消设备筛选',
    device_pick: '点击设备可按设备筛选图表和地址',
    device_tag: '设备：{name}',
    device_all_tag: '全部设备',
    device_hourly: '按设备不保留小时数据：改为按天显示',
    device_hours_note: '按设备不保留小时数据：此图为全部设备',
    services_all_devices: '全部设备（服务不按设备统计）',
  },
  en: {
    subtitle: 'Public traffic monitor',
    up: 'Up',
    down: 'Down',
    total: 'Total',
    interface: 'Interface',
    all_interfaces: 'All interfaces',
    today_total: 'Today',
    month_total: 'This month',
    year_total: 'This year',
    today_updown: 'Today up / down',
    query_title: 'Date range query',
    start_date: 'Start',
    end_date: 'End',
    granularity: 'Granularity',
    g_hour: 'Hour',
    g_day: 'Day',
    g_month: 'Month',
    run: 'Query',
    q_today: 'Today',
    q_yesterday: 'Yesterday',
    q_last7: 'Last 7 days',
    q_last30: 'Last 30 days',
    q_this_month: 'This month',
    q_last_month: 'Last month',
    q_this_year: 'This year',
    range: 'Range',
    range_top: 'Top 10 public IPs in range',
    days30_title: 'Last 30 days',
    months12_title: 'Last 12 months',
    hours_title: 'Today by hour',
    top_title: 'Top 10 public IPs today',
    timezone: 'Server time zone',
    licenses: 'Third-party licenses',
    no_data: 'No data',
    points: 'points',
    err_dates: 'Choose a valid start and end date',
    err_order: 'The end date is before the start date',
    err_unreachable: 'Cannot reach the server',
    err_prefix: 'API error',
    capturing: 'capturing',
    not_captured: 'not captured now, history only',
    drops: 'drops',
    share: 'Share',
    cycle_title: 'Billing cycle',
    cycle_used: 'Used',
    cycle_remaining: 'Remaining',
    cycle_days_left: 'Days left',
    cycle_forecast: 'Forecast at cycle end',
    cycle_runs_out: 'At this rate the quota runs out on {date}',
    cycle_no_quota: 'No quota set (QUOTA): usage only',
    cycle_counts: 'Counts: ',
    cycle_past: 'The 12 cycles before',
    cycle_limit: 'Quota',
    basis_total: 'up + down',
    basis_down: 'down only',
    basis_up: 'up only',
    basis_max: 'the larger of up and down',
    net_title: 'By network',
    country_title: 'By country',
    addresses: 'addresses',
    more_networks: '{n} more networks',
    more_countries: '{n} more countries',
    places_unknown: 'Not in the database',
    places_untracked: 'Not kept in the daily tables',
    places_more_tip: 'The networks or countries beyond the list, together',
    places_unknown_tip: 'Addresses that no GEOIP_DB file knows',
    places_untracked_tip: 'Each day keeps its TOP_IPS_PER_DAY heaviest addresses; the rest of its traffic cannot be placed',
    devices_title: 'Top devices',
    services_title: 'Top services',
    device_filter: 'Device filter',
    device_clear: 'Clear the device filter',
    device_pick: 'Click a device to filter the charts and addresses by it',
    device_tag: 'Device: {name}',
    device_all_tag: 'All devices',
    device_hourly: 'Hourly figures are not kept per device: shown by day',
    device_hours_note: 'Hourly figures are not kept per device: all devices here',
    services_all_devices: 'All devices (services are not kept per device)',
  },
};

const STORAGE_KEY = 'nts.lang';
const HTML_LANG = { zh: 'zh-CN', en: 'en' };

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled (private mode, policy): fall back to the default
  }
}

let current = STRINGS[stored()] ? stored() : 'zh';

export function t(key) {
  return STRINGS[current][key] ?? STRINGS.zh[key] ?? key;
}

// The services of /api/services in Chinese, by their stable id (src/service.rs TABLE); English
// shows the API's own label, and so does Chinese for an id not listed here.
const SERVICES_ZH = {
  https: 'HTTPS',
  http: 'HTTP',
  quic: 'QUIC (HTTP/3)',
  dns: 'DNS 域名解析',
  ssh: 'SSH',
  ntp: 'NTP 时间同步',
  stun: 'STUN',
  wireguard: 'WireGuard',
  tailscale: 'Tailscale',
  openvpn: 'OpenVPN',
  bittorrent: 'BitTorrent',
  plex: 'Plex',
  jellyfin: 'Jellyfin',
  'synology-dsm': '群晖 DSM',
  smb: 'SMB 文件共享',
  rsync: 'rsync',
  smtp: 'SMTP 邮件',
  imap: 'IMAP 邮件',
  'other-tcp': '其他 TCP',
  'other-udp': '其他 UDP',
  icmp: 'ICMP (ping)',
  esp: 'IPsec ESP',
  gre: 'GRE 隧道',
  fragment: 'IP 分片（首片之后）',
  'other-ip': '其他 IP 协议',
};

/** The name shown for a service: its Chinese name in Chinese, else the API's `label` (else the id). */
export function serviceLabel(service, label) {
  if (current === 'zh' && Object.hasOwn(SERVICES_ZH, service)) return SERVICES_ZH[service];
  return label || service;
}

/** Switch language, remember it, and rewrite every data-i18n element. */
export function setLang(next) {
  if (!STRINGS[next]) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Not remembered, still switched.
  }
  applyStatic();
}

/** Write the current language into the static text of the page. */
export function applyStatic(root = document) {
  document.documentElement.lang = HTML_LANG[current];
  for (const element of root.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const button of root.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === current));
  }
}
