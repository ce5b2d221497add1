from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='PlanRecord',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('request_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=256)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('strategy', fields.CharField(max_length=32)),
                ('game_state', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('options', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('throttles', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('score_total', fields.FloatField()),
                ('distance_error', fields.FloatField()),
                ('speed_penalty', fields.FloatField()),
                ('ticks', fields.IntField()),
                ('nonzero_ticks', fields.IntField()),
                ('final_speed', fields.FloatField()),
                ('target_distance', fields.FloatField()),
                ('distance_covered', fields.FloatField()),
                ('compute_seconds', fields.FloatField()),
            ],
            options={'table': 'plans', 'app': 'plans', 'indexes': [Index(fields=['created_at', 'id'], name='plans_created_at_id_idx'), Index(fields=['user_id', 'created_at'], name='plans_user_id_created_at_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
