"""Text templates for activities, tasks, tickets, opportunities and leads, in Chinese and English.

Templates use ``str.format`` fields filled by the generator: ``name`` (how the customer is
addressed: 王经理 / Anna), ``first``, ``last``, ``full``, ``owner``, ``owner_first``,
``product``, ``qty``, ``account``, ``date``, ``weeks``, ``amount``, ``unit_price``,
``quote_no``, ``tracking``, ``fw``, ``month``, ``sn``, ``code``, ``dept``.
Keys are (language, business line) with language ``zh`` or ``en`` and business line ``ia``
(industrial automation) or ``md`` (medical devices).
"""

from __future__ import annotations

Key = tuple[str, str]

GREETINGS: dict[str, tuple[str, ...]] = {
    "zh": ("{name}您好，", "{name}，您好！", "尊敬的{name}：", "{name}好，"),
    "en": ("Hi {first},", "Dear {first},", "Hello {first},", "Hi {first},"),
}
CLOSINGS: dict[str, tuple[str, ...]] = {
    "zh": ("如有问题请随时联系我。\n\n祝好\n{owner}", "谢谢！\n{owner}", "顺祝商祺\n{owner}",
           "期待您的回复。\n\n{owner}"),
    "en": ("Best regards,\n{owner}", "Kind regards,\n{owner}", "Thanks,\n{owner}",
           "Let me know if you have any questions.\n\nBest,\n{owner}"),
}

# Outbound e-mails: (subject, core paragraph)
EMAILS_OUT: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("EMC测试报告 - {product}", "附件是{product}的EMC测试报告（IEC 61000-4-2/-4-4/-4-5），请查收。报告已由实验室盖章，可直接用于贵司的CE技术文件。"),
        ("{account}项目选型方案", "根据上次技术交流的内容，我们更新了{product}的选型方案，共{qty}台，详见附件。"),
        ("{product}报价单（{quote_no}）", "{product}的报价已更新：{qty}台，含税单价{unit_price}，总价{amount}，交期{weeks}周，报价有效期30天。"),
        ("样品寄送通知", "{product}样品已于今天通过顺丰寄出，单号SF{tracking}，预计后天到达。测试过程中如有任何问题请随时联系我们的应用工程师。"),
        ("固件升级说明 V{fw}", "上次现场调试时发现的通讯超时问题，研发已确认是固件版本导致，新版固件V{fw}已上传，请在停机窗口升级。"),
        ("拜访纪要及后续安排", "感谢您百忙之中抽空接待我们。按照会上的约定，我们会在{date}前提交{product}的技术方案和初步报价。"),
        ("供应商资质文件", "贵司采购部要求的供应商资质文件（营业执照、ISO 9001证书、CCC/CE证书）已整理好，见附件。"),
        ("交期确认 - {product}", "本月起{product}的标准交期调整为{weeks}周，贵司{qty}台的订单我们已经优先排产，预计{date}发货。"),
    ),
    ("zh", "md"): (
        ("{product}注册证及报价", "附件是{product}的医疗器械注册证和报价单（{quote_no}），请查收。本次报价含三年保修及临床应用培训。"),
        ("{product}试用安排", "{product}的科室试用安排在{date}，我们的应用专家会到科室现场培训，预计半天。"),
        ("招标参数点对点应答", "关于本次{product}采购项目，招标文件中的技术参数我们已逐条核对，均可满足，点对点应答见附件。"),
        ("装机验收资料", "{qty}台{product}已于昨日完成装机，验收报告和培训签到表见附件，麻烦您签字后回传。"),
        ("预防性维护计划", "根据维保合同，我们计划在{date}对贵院的{product}进行年度预防性维护和电气安全检测，届时需要科室配合停机约两小时。"),
        ("Re: 设备更新预算", "了解到贵院明年有监护设备更新的预算，我们整理了{product}的配置方案和同类医院的使用案例，供您参考。"),
        ("配件订单确认", "贵司订购的{qty}件{product}已安排发货，物流单号SF{tracking}，请注意查收。"),
        ("{product}报价（{quote_no}）", "{qty}台{product}的报价为{amount}，含运输、安装和培训，报价有效期60天。"),
    ),
    ("en", "ia"): (
        ("EMC test report - {product}", "Please find attached the EMC test report for the {product} (IEC 61000-4-2, -4-4 and -4-5). It is signed by the accredited lab, so you can file it directly with your CE technical documentation."),
        ("Quotation {quote_no}", "As promised, here is our quotation for {qty} x {product}: unit price {unit_price}, total {amount}, lead time {weeks} weeks ex works. The offer is valid for 30 days."),
        ("Samples on their way", "The {product} evaluation samples left our warehouse today (tracking {tracking}). Our application engineer can join your first test run remotely if that helps."),
        ("Firmware V{fw} for the communication timeout", "Our R&D team traced the timeout you saw during commissioning to the firmware. Version {fw} fixes it; please install it during your next maintenance window."),
        ("Follow-up on our visit", "Thank you for taking the time to show us the line last week. As agreed, we will send the technical proposal for the {product} retrofit by {date}."),
        ("Lead time update - {product}", "Lead times for the {product} are currently {weeks} weeks. We have reserved production capacity for your {qty} units so we can still ship by {date}."),
        ("Supplier documents", "Attached are the documents your purchasing team asked for: ISO 9001 certificate, CE declarations and our REACH/RoHS statement."),
        ("Retrofit proposal for {account}", "Attached is our proposal to replace the legacy drives with {qty} x {product}, including commissioning and a two-day training for your maintenance team."),
    ),
    ("en", "md"): (
        ("Tender follow-up - {product}", "Following up on the {product} tender: we submitted our documentation on {date}. Let me know if the evaluation committee needs anything else from us."),
        ("{product}: clinical evaluation dates", "We can bring the {product} for a two-week clinical evaluation starting {date}. Our application specialist will train the team on the first day."),
        ("Quotation {quote_no}", "Please find our quotation for {qty} x {product} attached, including three years' warranty and on-site training. Total {amount}."),
        ("Installation and acceptance", "The {qty} {product} units were installed yesterday. Attached are the acceptance protocol and the training attendance list for your signature."),
        ("Preventive maintenance visit", "According to the service agreement, our engineer will carry out the annual preventive maintenance and electrical safety test (IEC 62353) on {date}."),
        ("Tender clarification", "Regarding the clarification question on battery runtime: the {product} runs 8 hours on a full charge, as documented in section 4.2 of our technical file."),
        ("Consumables order shipped", "Your order of {qty} x {product} has shipped today; tracking number {tracking}."),
        ("Monitoring upgrade for {account}", "Attached is a configuration proposal for {qty} x {product} with HL7 integration into your hospital information system."),
    ),
}

# Inbound e-mails, written by the customer: (subject, full body)
EMAILS_IN: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("Re: {product}报价", "{owner_first}你好，报价收到，价格方面还有没有优惠空间？我们这次量比较大，{qty}台，希望能在{date}前到货。\n\n{full}"),
        ("设备报警求助", "你好，产线上一台{product}今天早上报警（{code}），重启后还是不行，能否安排工程师尽快过来看一下？\n\n{full}\n{account}"),
        ("样品测试结果", "{owner_first}你好，{product}样品测试基本通过，高温老化还需要再跑72小时，下周给你最终结论。\n\n{full}"),
        ("询价", "你好，我们新产线需要{qty}台{product}，麻烦报个价，并提供规格书和交期。谢谢！\n\n{full}"),
    ),
    ("zh", "md"): (
        ("关于{product}试用", "你好，科室对{product}的试用反馈不错，想了解一下配置能否调整？另外请提供最新的报价。\n\n{full}"),
        ("设备故障", "你好，我们科一台{product}今天出现故障代码{code}，请尽快安排工程师处理，谢谢。\n\n{full}\n{account}"),
        ("Re: 招标参数", "{owner_first}你好，参数应答收到。院里要求补充近三年同类项目业绩，请在{date}前提供。\n\n{full}"),
        ("耗材询价", "你好，请报一下{qty}件{product}的价格和到货时间。\n\n{full}"),
    ),
    ("en", "ia"): (
        ("Re: Quotation {quote_no}", "Hi {owner_first},\n\nThanks for the quote. Is there any flexibility on price if we commit to {qty} units? We would need delivery before {date}.\n\nRegards,\n{full}"),
        ("Alarm on line 3", "Hello,\n\nOne of the {product} units on line 3 stopped this morning with alarm {code}. A restart did not help. Can you send an engineer?\n\n{full}\n{account}"),
        ("Sample test results", "Hi {owner_first},\n\nThe {product} samples passed our functional tests. We still need to run the 72-hour heat test and will come back to you next week.\n\nBest,\n{full}"),
        ("Request for quotation", "Hello,\n\nFor our new line we need {qty} x {product}. Please send a quotation with datasheet and lead time.\n\nThank you,\n{full}"),
    ),
    ("en", "md"): (
        ("Question about the {product}", "Hello {owner_first},\n\nOur biomedical team has a question about the service interval for the {product}. Could you send the maintenance manual?\n\nBest,\n{full}"),
        ("Device fault", "Hello,\n\nOne of our {product} units shows error {code} since this morning. Please arrange a service visit.\n\n{full}\n{account}"),
        ("Re: Tender clarification", "Hi {owner_first},\n\nThanks for the answers. The committee also asks for three reference sites with similar installations; please send them by {date}.\n\nRegards,\n{full}"),
        ("Consumables", "Hello,\n\nPlease quote {qty} x {product} with delivery time.\n\nKind regards,\n{full}"),
    ),
}

CALLS: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("电话沟通 - {account}", "与{name}电话沟通：客户对{product}的交期比较关注，希望{date}前到货，下周安排技术交流。"),
        ("电话回访：{product}样品", "电话回访{name}：样品测试基本通过，只是{product}在高温环境下需要再验证，客户会在两周内给出结论。"),
        ("{name}来电", "{name}来电询问{product}与现有设备的兼容性，已答复可以通过Modbus TCP通讯，稍后发送接线图。"),
        ("付款方式确认", "与{name}确认了{qty}台{product}的付款方式：30%预付，70%到货后30天内支付。"),
        ("电话沟通 - 竞品情况", "{name}透露这次还有两家供应商参与比价，{product}价格需要再让一些，但对我们的售后服务评价很高。"),
    ),
    ("zh", "md"): (
        ("电话沟通 - {account}", "与{name}电话沟通：科室对{product}的试用效果很满意，预算已报到设备科，预计{month}上会。"),
        ("{name}反馈", "{name}反馈{product}在夜间报警音量偏大，已约工程师上门调整设置。"),
        ("招标时间确认", "电话确认{account}招标时间：预计{date}挂网，要求三年质保。"),
        ("培训安排", "与{name}沟通了{product}的培训安排，希望分两批进行，覆盖白班和夜班。"),
        ("电话回访", "电话回访{name}：{qty}台{product}使用正常，科室希望增加中央监护联网。"),
    ),
    ("en", "ia"): (
        ("Call with {full}", "Call with {full}: they are comparing us with two other suppliers on the {product}; lead time matters more than price. Next step: revised quote by Friday."),
        ("Call: sample test", "Spoke to {first} about the sample test. Results are fine except the high-temperature run; they will repeat it next week."),
        ("Inbound call from {first}", "{first} called about integrating the {product} with their existing line. Confirmed Modbus TCP and OPC UA; sending the wiring diagram."),
        ("Call: payment terms", "Discussed payment terms for {qty} units with {first}: 30% advance, balance 30 days after delivery."),
        ("Call: competition", "{first} says two competitors are still in the running. Our {product} wins on support; price needs to move about 5%."),
    ),
    ("en", "md"): (
        ("Call with {full}", "Call with {full}: the ward is happy with the {product} trial; the budget request goes to the capital committee in {month}."),
        ("Call: alarm settings", "{first} reported that the alarm volume on the {product} is too loud on night shifts; engineer booked to adjust the profile."),
        ("Call: tender timeline", "Checked the tender timeline with {first}: publication expected {date}, three-year warranty required."),
        ("Call: training plan", "Agreed the {product} training plan with {first}: two sessions so both shifts can attend."),
        ("Check-in call", "Check-in with {first}: the {qty} {product} units are running well; they are interested in central station connectivity."),
    ),
}

MEETINGS: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("{account}技术交流会", "参会：{name}及技术部两位工程师。介绍了{product}的方案，客户重点关注EMC和维护便利性。会后需提交方案书。"),
        ("现场勘察 - {account}", "与{name}一起查看了产线，现有设备老化严重，计划分两期改造，第一期约{qty}台{product}。"),
        ("商务谈判", "与{name}及采购部就{product}价格和交期进行谈判，客户要求降价5%并缩短交期至{weeks}周，需内部审批。"),
    ),
    ("zh", "md"): (
        ("{account}设备科拜访", "拜访{name}，介绍{product}，对方提到明年预算有限，更关注售后响应时间。"),
        ("{product}演示", "在科室为{name}及医生团队演示{product}，性能和操作流程获得认可，要求提供含三年维保的报价。"),
        ("招标前沟通会", "与{name}沟通招标需求，{product}配置需要调整，预算约{amount}。"),
    ),
    ("en", "ia"): (
        ("Site visit - {account}", "Met {full} and two engineers on site. Walked the line and presented the {product} solution; key concerns are EMC compliance and spare parts availability."),
        ("Technical workshop", "Workshop with {first}'s team on the {product}: sizing confirmed for {qty} axes, safety concept (STO) accepted."),
        ("Negotiation meeting", "Negotiation with {full} and purchasing: they ask for 5% off and {weeks} weeks lead time. Needs approval from sales management."),
    ),
    ("en", "md"): (
        ("Product demo - {product}", "Demo for {full} and the ward team. Handling and workflow were well received; they asked for a quote including three years' service."),
        ("Visit - {account}", "Visited {first} at {account}. Budget for next year is tight; service response time is their main criterion."),
        ("Pre-tender meeting", "Discussed the tender requirements with {first}: the {product} configuration needs adjusting, budget around {amount}."),
    ),
}

CHATS: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("微信", "微信：{name}发来现场{product}报警截图（{code}），已转给技术支持。"),
        ("微信", "微信沟通：{name}问样品什么时候到，已告知顺丰单号SF{tracking}。"),
        ("微信", "{name}微信确认下周二上午可以安排技术交流。"),
    ),
    ("zh", "md"): (
        ("微信", "微信：{name}询问{product}试用能否延长一周，已同意。"),
        ("微信", "{name}微信发来招标文件链接，投标截止{date}。"),
        ("微信", "微信沟通：{name}反馈{product}打印报告格式需要调整，已转应用专家。"),
    ),
    ("en", "ia"): (
        ("Teams chat", "Teams chat with {first}: shared the updated datasheet for the {product}."),
        ("WhatsApp", "WhatsApp: {first} sent photos of alarm {code} on the {product}; forwarded to support."),
        ("Teams chat", "{first} confirmed next Tuesday morning for the technical workshop."),
    ),
    ("en", "md"): (
        ("WhatsApp", "WhatsApp: {first} asked whether the revised quote includes training - confirmed it does."),
        ("Teams chat", "{first} shared the tender portal link; submission deadline {date}."),
        ("WhatsApp", "{first} asked to extend the {product} trial by one week - agreed."),
    ),
}

NOTES: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("内部备注", "内部备注：{account}今年预算收紧，重点跟进{product}替换需求。"),
        ("内部备注", "客户信用良好，历史订单均按时付款，可申请特价。"),
    ),
    ("zh", "md"): (
        ("内部备注", "内部备注：{account}明年计划新建ICU，监护设备需求约{qty}台。"),
        ("内部备注", "设备科换了新科长，需要重新建立关系。"),
    ),
    ("en", "ia"): (
        ("Internal note", "Internal note: {account} is consolidating suppliers this year; focus on the {product} replacement."),
        ("Internal note", "Good payment history; eligible for project pricing."),
    ),
    ("en", "md"): (
        ("Internal note", "Internal note: {account} plans a new ICU next year, roughly {qty} monitoring beds."),
        ("Internal note", "New head of biomedical engineering since last month - re-introduce ourselves."),
    ),
}

# (activity type, subject, body)
TICKET_ACTIVITIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "zh": (
        ("call", "远程支持", "已远程指导{name}重启{product}并检查接线，问题仍存在，安排工程师{date}上门。"),
        ("meeting", "工程师上门", "工程师上门检查{product}（序列号{sn}），更换主板后测试正常，客户签字确认。"),
        ("call", "回访", "回访{name}：{product}运行正常，工单可以关闭。"),
        ("chat", "微信", "微信：{name}发来{product}现场照片和报警代码{code}，已转二线支持。"),
        ("note", "内部备注", "备件已从苏州仓库发出，预计两天到达。"),
    ),
    "en": (
        ("call", "Remote session", "Remote session with {first}: checked parameters on the {product} (S/N {sn}); replacing the cable as next step."),
        ("meeting", "On-site visit", "Engineer on site: replaced the main board of the {product} (S/N {sn}); tests passed, signed off by {first}."),
        ("call", "Follow-up", "Followed up with {first}: the {product} has been running without faults since the fix; closing the ticket."),
        ("chat", "WhatsApp", "WhatsApp: {first} sent photos of the {product} showing {code}; escalated to second-level support."),
        ("note", "Internal note", "Spare part shipped from the Rotterdam warehouse; expected in two days."),
    ),
}

LEAD_ACTIVITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "zh": (
        ("展会回访", "展会后电话回访{full}，对{product}有兴趣，约下月拜访。"),
        ("初次沟通", "与{full}初次沟通，了解到对方正在评估{product}，预算待定。"),
    ),
    "en": (
        ("Intro call", "Intro call with {full} after the trade show; interested in the {product}, wants a datasheet and budget price."),
        ("First contact", "First conversation with {full}: evaluating the {product}, budget not yet approved."),
    ),
}

OPPORTUNITY_NAMES: dict[Key, tuple[str, ...]] = {
    ("zh", "ia"): ("{account} - {product} {qty}台", "{account}产线改造项目", "{account}新工厂自动化项目",
                   "{account} - {product}替换", "{account} {year}年框架协议"),
    ("zh", "md"): ("{account} - {product} {qty}台", "{account}超声设备采购项目", "{account}监护仪更新项目",
                   "{account}输液泵集中采购", "{account} {year}年维保合同"),
    ("en", "ia"): ("{account} - {qty} x {product}", "{account} line retrofit", "{account} new plant automation",
                   "{account} - {product} replacement", "{account} frame agreement {year}"),
    ("en", "md"): ("{account} - {qty} x {product}", "{account} ultrasound tender {year}", "{account} patient monitoring upgrade",
                   "{account} infusion pump tender", "{account} service contract {year}"),
}
OPPORTUNITY_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "zh": ("客户计划在年底前完成产线升级，竞争对手为一家德系品牌和一家本土品牌。",
           "预算已批，关键决策人是技术总监，价格敏感度中等。",
           "医院今年有设备更新预算，招标预计下季度挂网。",
           "老客户复购，关注交期和售后响应。",
           "需要提供EMC测试报告和CE文件，技术评估周期约两个月。"),
    "en": ("Customer wants the line upgraded before year end; competing with one European and one local supplier.",
           "Budget approved; the head of engineering decides, price sensitivity is moderate.",
           "Capital budget available this year; tender expected next quarter.",
           "Repeat customer; lead time and service response are what matter.",
           "Needs EMC test reports and the CE file; technical evaluation takes about two months."),
}
NEXT_STEPS: dict[Key, tuple[str, ...]] = {
    ("zh", "ia"): ("发送更新报价", "安排技术交流", "提交样品测试报告", "安排现场勘察", "跟进付款"),
    ("zh", "md"): ("发送更新报价", "安排科室试用", "等待招标挂网", "提交注册证和资质文件", "跟进付款"),
    ("en", "ia"): ("Send revised quote", "Arrange technical workshop", "Share sample test report",
                   "Book site survey", "Follow up on PO"),
    ("en", "md"): ("Send revised quote", "Schedule clinical trial", "Wait for tender publication",
                   "Send registration certificates", "Follow up on PO"),
}
LOST_REASONS: dict[str, tuple[str, ...]] = {
    "zh": ("价格高于竞争对手", "交期无法满足", "项目取消", "技术参数不符合招标要求", "客户选择了原供应商"),
    "en": ("Price", "Lost to competitor on lead time", "Project cancelled", "Did not meet tender specification",
           "Customer stayed with incumbent supplier"),
}

_TASKS_COMMON: dict[str, tuple[tuple[str, str], ...]] = {
    "zh": (
        ("给{name}发送更新报价", "按上次沟通结果调整{product}价格，附交期说明。"),
        ("电话确认{product}交期", "客户要求{date}前到货，与工厂确认排产。"),
        ("催收{account}回款", "第二笔款项已逾期两周，联系财务确认付款计划。"),
        ("回复{name}的邮件", "客户询问{product}的技术参数，需在今天回复。"),
    ),
    "en": (
        ("Send revised quote to {full}", "Adjust the {product} price as discussed and add the lead-time statement."),
        ("Call {first} about delivery schedule", "Customer needs delivery before {date}; confirm the production slot."),
        ("Chase overdue payment - {account}", "Second instalment is two weeks overdue; agree a payment plan."),
        ("Reply to {first}'s e-mail", "Questions about the {product} specification; answer today."),
    ),
}
TASKS: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): _TASKS_COMMON["zh"] + (
        ("跟进{product}样品测试结果", "确认高温测试结论，必要时安排应用工程师协助。"),
        ("安排工程师现场调试", "{account}新产线下周投产，需要调试工程师两天。"),
        ("提交EMC测试报告", "客户CE文件需要最新版EMC报告。"),
    ),
    ("zh", "md"): _TASKS_COMMON["zh"] + (
        ("准备{account}招标文件", "整理资质、注册证和点对点应答。"),
        ("拜访{account}设备科", "介绍{product}新功能，了解明年预算。"),
        ("安排{product}科室试用", "与护士长确认试用时间和培训安排。"),
    ),
    ("en", "ia"): _TASKS_COMMON["en"] + (
        ("Follow up on {product} sample test", "Get the result of the heat test; offer an application engineer if needed."),
        ("Book commissioning engineer for {account}", "Two days on site for the new line."),
        ("Send EMC test report", "The customer's CE file needs the latest EMC report."),
    ),
    ("en", "md"): _TASKS_COMMON["en"] + (
        ("Prepare tender documents for {account}", "Certificates, declarations of conformity and the compliance matrix."),
        ("Renew service contract with {account}", "Contract expires next month; propose the 3-year option."),
        ("Schedule {product} clinical trial", "Agree dates and the training plan with the ward."),
    ),
}

# Product families each ticket template fits, per business line; TICKETS lists the templates in
# the same order for both languages.
TICKET_FAMILIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "ia": (("drive",), ("plc", "hmi"), ("drive",), ("sensor", "drive"), ("service",), ("gateway",)),
    "md": (("ultrasound",), ("monitor",), ("pump",), ("pump",), ("monitor",), ("ultrasound", "monitor", "pump")),
}
TICKETS: dict[Key, tuple[tuple[str, str], ...]] = {
    ("zh", "ia"): (
        ("伺服驱动器报警{code}，电机无法使能", "客户反馈：{product}上电后报警{code}，电机无法使能。设备序列号{sn}，安装于{dept}。已远程指导重启，问题仍存在。"),
        ("PLC与触摸屏通讯中断", "客户反馈：固件升级后{product}与触摸屏通讯间歇中断，产线被迫停机。序列号{sn}。"),
        ("变频器过流跳闸", "{product}在启动阶段频繁过流跳闸，客户怀疑参数设置问题。"),
        ("编码器信号异常导致定位偏差", "包装线定位偏差约2mm，怀疑编码器线缆干扰。"),
        ("需要更新版EMC测试报告", "客户CE认证审核需要最新标准版本的EMC报告。"),
        ("物联网网关MQTT连接频繁断开", "{product}每隔几小时断开与云平台的连接，需要远程排查。"),
    ),
    ("zh", "md"): (
        ("超声探头图像出现条纹干扰", "科室反馈：{product}图像出现竖条纹干扰，更换插槽后仍存在。序列号{sn}。"),
        ("监护仪血氧数值跳动", "{dept}反馈{product}血氧数值跳动明显，已更换探头测试。"),
        ("输液泵阻塞报警误报", "护士站反馈{product}频繁阻塞报警，但管路通畅。序列号{sn}。"),
        ("注射泵电池续航不足", "{product}满电后仅能使用约2小时，需要更换电池。"),
        ("中央监护站无法接收床旁数据", "中央站与{dept}床旁监护仪断开，网络检查正常。"),
        ("申请临床应用培训", "新入职护士较多，申请{product}操作培训。"),
    ),
    ("en", "ia"): (
        ("Servo drive alarm {code}, motor will not enable", "Customer reports alarm {code} on the {product} after power-up; motor cannot be enabled. S/N {sn}, installed in {dept}. Restart did not help."),
        ("PLC loses connection to HMI after firmware update", "Since the firmware update the {product} drops the HMI connection intermittently; line stops. S/N {sn}."),
        ("Inverter trips with overcurrent fault", "The {product} trips on overcurrent during start-up; parameter set suspected."),
        ("Encoder position drift on packaging line", "Positioning drifts by about 2 mm; suspect interference on the encoder cable."),
        ("Request updated EMC test report", "Customer's CE audit needs the EMC report against the current standard edition."),
        ("IIoT gateway drops MQTT connection", "The {product} disconnects from the cloud broker every few hours; remote diagnosis needed."),
    ),
    ("en", "md"): (
        ("Ultrasound probe shows image artefacts", "Vertical stripes on the {product} image, also on another probe port. S/N {sn}."),
        ("Patient monitor SpO2 readings unstable", "{dept} reports unstable SpO2 values on the {product}; sensor already replaced."),
        ("Infusion pump false occlusion alarm", "Nurses report frequent occlusion alarms on the {product} with a clear line. S/N {sn}."),
        ("Syringe pump battery does not hold charge", "The {product} runs only about 2 hours on a full battery; battery replacement needed."),
        ("Central station not receiving bedside data", "Central station lost connection to the bedside monitors in {dept}; network checked."),
        ("Request for clinical application training", "Many new nurses on the ward; requesting {product} training."),
    ),
}
DEPARTMENTS: dict[Key, tuple[str, ...]] = {
    ("zh", "ia"): ("一号车间", "三号产线", "总装车间", "包装车间", "注塑车间"),
    ("zh", "md"): ("ICU", "急诊科", "超声科", "心内科", "手术室"),
    ("en", "ia"): ("hall 1", "line 3", "final assembly", "packaging", "moulding shop"),
    ("en", "md"): ("ICU", "A&E", "radiology", "cardiology", "theatre 2"),
}
ALARM_CODES = ("AL.16", "AL.21", "Er.05", "E-031", "OC2", "F0012", "ERR 41", "A.C90")

LEAD_NOTES: dict[Key, tuple[str, ...]] = {
    ("zh", "ia"): ("展会咨询：对伺服驱动器和PLC感兴趣，新工厂明年投产。", "官网留言：询问EMC测试服务。",
                   "朋友介绍，现有设备需要替换。", "招标信息：自动化产线改造项目。"),
    ("zh", "md"): ("CMEF展会咨询：对便携式彩超感兴趣。", "官网留言：询问输液泵价格。",
                   "经销商推荐，民营医院新建项目。", "招标预告：监护设备采购。"),
    ("en", "ia"): ("Trade show contact: interested in servo drives and PLCs for a new plant.",
                   "Web form: asked about EMC testing services.", "Referral from an existing customer.",
                   "Tender notice: line automation retrofit."),
    ("en", "md"): ("Met at the MEDICA booth; interested in portable ultrasound.", "Web form: asked for infusion pump pricing.",
                   "Distributor referral: new private clinic.", "Tender pre-announcement: patient monitoring."),
}

MONTHS_ZH = ("1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
