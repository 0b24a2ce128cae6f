"""Text the generator puts into records: names, companies, subjects and email bodies with links."""

from __future__ import annotations

import random

FIRST_NAMES = (
    "Anna",
    "Bas",
    "Chloe",
    "Dirk",
    "Eva",
    "Finn",
    "Greta",
    "Hugo",
    "Iris",
    "Jens",
    "Kim",
    "Lars",
    "Maud",
    "Niels",
    "Olga",
    "Pieter",
    "Quinn",
    "Roos",
    "Stijn",
    "Thijs",
    "Ursula",
    "Vera",
    "Wout",
    "Xander",
    "Yara",
    "Zoe",
    "Amir",
    "Fatima",
    "Mohammed",
    "Priya",
    "Wei",
    "Sofia",
    "Mateo",
    "Liam",
)
LAST_NAMES = (
    "Jansen",
    "de Jong",
    "van den Berg",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "Schouten",
    "Kaya",
    "Yilmaz",
    "Chen",
    "Garcia",
    "Muller",
    "Novak",
    "Kowalski",
    "Rossi",
)
COMPANIES = (
    "Northwind Logistics",
    "Contoso Manufacturing",
    "Fabrikam Health",
    "Tailspin Energy",
    "Litware",
    "Adventure Works",
    "Wide World Importers",
    "Proseware",
    "Lucerne Publishing",
    "Coho Winery",
    "Blue Yonder Air",
    "Trey Research",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Margie's Travel",
    "Fourth Coffee",
    "Humongous Insurance",
    "VanArsdel",
    "Wingtip Toys",
    "Graphic Design Institute",
)
JOB_TITLES = (
    "CFO",
    "Head of Operations",
    "IT Manager",
    "Procurement Lead",
    "CEO",
    "Sales Director",
    "Office Manager",
    "Controller",
    "COO",
    "Marketing Manager",
    "Engineer",
    "Project Manager",
)
DOMAIN = "https://www.acme-example.com"
# Marketing assets: (path kind, slug, title). Popularity falls with the position in this list.
ASSETS = (
    ("ebooks", "sales-playbook-2026", "The 2026 Sales Playbook"),
    ("whitepapers", "roi-of-automation", "The ROI of Automation"),
    ("case-studies", "northwind-cuts-costs-30", "How Northwind cut costs by 30%"),
    ("ebooks", "buyers-guide-crm", "A Buyer's Guide to CRM"),
    ("guides", "implementation-checklist", "Implementation checklist"),
    ("webinars", "q3-product-tour", "Q3 product tour (recording)"),
    ("case-studies", "fabrikam-health-rollout", "Fabrikam Health's rollout"),
    ("whitepapers", "security-and-compliance", "Security and compliance"),
    ("datasheets", "platform-overview", "Platform overview"),
    ("brochures", "services-2026", "Services brochure 2026"),
    ("e-book", "pricing-models-explained", "Pricing models explained"),
    ("white-paper", "total-cost-of-ownership", "Total cost of ownership"),
)
OTHER_LINKS = (
    f"{DOMAIN}/pricing",
    f"{DOMAIN}/blog/five-signs-you-outgrew-spreadsheets",
    "https://calendly.com/acme-sales/30min",
    "https://www.linkedin.com/company/acme-example",
    f"{DOMAIN}/contact",
    "https://goo.gl/maps/acmeHQ",
)
CALL_TITLES = ("Intro call", "Discovery call", "Follow-up call", "Demo follow-up", "Check-in", "Cold call")
EMAIL_SUBJECTS = (
    "Quick question",
    "Following up",
    "Resources you asked for",
    "Next steps",
    "Checking in",
    "Re: our conversation",
    "An idea for your team",
    "Meeting recap",
)
MEETING_TITLES = ("Discovery meeting", "Product demo", "Proposal review", "Kick-off", "Technical deep dive")
NOTE_BODIES = (
    "Left a voicemail, will try again Thursday.",
    "Prospect evaluating two vendors.",
    "Budget approved for Q3.",
    "Asked for a reference customer.",
    "Not the right contact, referred.",
)
TASK_SUBJECTS = ("Call back", "Send proposal", "Prepare demo", "Follow up on pricing", "Connect on LinkedIn")


def asset_url(rng: random.Random) -> str:
    """A link to a marketing asset, popular ones more likely, sometimes with tracking parameters."""
    kind, slug, _ = ASSETS[min(int(rng.expovariate(0.35)), len(ASSETS) - 1)]
    url = f"{DOMAIN}/resources/{kind}/{slug}"
    roll = rng.random()
    if roll < 0.25:
        url += "?utm_source=hubspot&utm_medium=email"
    elif roll < 0.35:
        url += "/"
    return url


def email_bodies(rng: random.Random, first: str, rep_first: str, content: bool) -> tuple[str, str]:
    """Text and HTML of a sales email, with a content link when `content`, often with other links too."""
    links: list[str] = []
    if content:
        links.append(asset_url(rng))
    if rng.random() < 0.35:
        links.append(OTHER_LINKS[rng.randrange(len(OTHER_LINKS))])
    lines = [f"Hi {first},", "", "Thanks for your time. As promised, a few pointers:"]
    lines += [f"- {url}" for url in links] or ["- happy to walk you through a short demo."]
    lines += ["", "Best regards,", rep_first]
    text = "\n".join(lines)
    html_links = "".join(f'<li><a href="{u}" target="_blank">{u}</a></li>' for u in links)
    html = (
        f"<div><p>Hi {first},</p><p>Thanks for your time. As promised, a few pointers:</p>"
        f"<ul>{html_links}</ul><p>Best regards,<br>{rep_first}</p></div>"
    )
    return text, html


def reply_bodies(first: str) -> tuple[str, str]:
    """Text and HTML of a prospect's reply."""
    text = f"Thanks, this is helpful. Can we talk next week?\n\n{first}"
    return text, f"<div><p>Thanks, this is helpful. Can we talk next week?</p><p>{first}</p></div>"


def long_html(rng: random.Random, size: int) -> str:
    """A very long email body (a pasted thread with inline tables), `size` characters or more."""
    row = (
        "<tr><td>Line item</td><td>Qty 1</td><td>EUR 1,250.00</td><td>See https://www.acme-example.com/terms</td></tr>"
    )
    rows = row * (size // len(row) + 1)
    link = asset_url(rng)
    return f'<div><p>Full thread below.</p><p><a href="{link}">{link}</a></p><table>{rows}</table></div>'
