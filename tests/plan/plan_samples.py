"""Resource files the plan tests write into their projects."""

HIGH_VALUE = """\
kind: audience
key: high_value_users
name: High value users
where:
  all:
    - event: Order Completed
      where: {property: revenue, gt: 100}
      within: 90d
      count: {gte: 3}
    - trait: plan
      one_of: [pro, enterprise]
destinations: [braze_us]
"""

BRAZE = """\
kind: destination
key: braze_us
provider: webhook
settings: {url: "https://hooks.example.com/${env:BRAZE_TOKEN}"}
"""

FACEBOOK = """\
kind: destination
key: facebook_eu
provider: webhook
settings: {url: "https://hooks.example.com/fb"}
"""
